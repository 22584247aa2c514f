// A worker thread for the API load test: sends EHLO on one SMTP connection
// over and over and records each round trip, on its own event loop, so that
// the test's own work (building and sending large requests) does not show
// up as the daemon's latency. Stops when told; answers with the round trips.

import { parentPort, workerData } from 'node:worker_threads';
import { RawClient } from '../smtp/harness.ts';

const { port } = workerData as { port: number };
let stop = false;
parentPort?.on('message', () => (stop = true));

const c = await RawClient.connect(port);
const greeting = await c.reply();
if (!greeting?.startsWith('220')) throw new Error(`greeting: ${greeting}`);
const rtts: number[] = [];
parentPort?.postMessage({ ready: true });
while (!stop) {
  const t0 = performance.now();
  c.write('EHLO probe.test.example\r\n');
  // However long it takes: the round trip is the measurement.
  const r = await c.reply(120_000);
  if (!r?.startsWith('250')) throw new Error(`EHLO answered ${r}`);
  rtts.push(performance.now() - t0);
  // A short pause between probes: the point is to sample the event loop, not to load it.
  await new Promise((done) => setTimeout(done, 5));
}
c.write('QUIT\r\n');
parentPort?.postMessage({ rtts });
