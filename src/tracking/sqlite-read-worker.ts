// The worker thread that answers the embedded tracking store's reads
// (search, timeline, decisions, top) on a connection of its own, so that a
// search over a month (up to half a second for a common word of a subject,
// a second for a week of decisions) never holds up the daemon's event loop,
// where mail is answered. Started by src/tracking/off-loop-reads.ts.

import { parentPort, workerData } from 'node:worker_threads';
import { SqliteTrackingStore } from './sqlite-tracking-store.ts';

const READS = new Set(['search', 'timeline', 'decisions', 'top']);
const store = new SqliteTrackingStore((workerData as { file: string }).file);

parentPort?.on('message', (m: { id: number; method: string; args: unknown[] }) => {
  const call = READS.has(m.method) ? (store[m.method as 'search'] as (...a: unknown[]) => Promise<unknown>).apply(store, m.args) : Promise.reject(new Error(`not a read: ${m.method}`));
  call.then(
    (result) => parentPort?.postMessage({ id: m.id, result }),
    (err: unknown) => parentPort?.postMessage({ id: m.id, error: { name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) } }),
  );
});
