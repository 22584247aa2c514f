// The recorder's own cost per message, in-process (issue #20): the log lines
// of one relayed message as the daemon writes them (connect, rcpt, queued,
// delivery, queue.removed, disconnect), handed to the TrackingRecorder and
// written to a SQLite tracking store in its batches; CPU time of this
// process (user + system) per message. The end-to-end figure, with the whole
// relay, is the bench cell `node bench/run.ts --relays mailwarden,mailwarden-notrack`.
//
//   node bench/tracking-recorder.ts [--messages 20000] [--recipients 1]

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { memoryLogger } from '../src/log/logger.ts';
import { TrackingRecorder } from '../src/tracking/recorder.ts';
import { SqliteTrackingStore } from '../src/tracking/sqlite-tracking-store.ts';
import { REPO } from './relays/mailwarden.ts';

const argv = process.argv.slice(2);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const MESSAGES = Number(value('messages') ?? 20_000);
const RCPTS = Number(value('recipients') ?? 1);
const dir = join(REPO, 'bench', '.scratch', 'tracking-recorder');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

const store = new SqliteTrackingStore(join(dir, 'tracking.db'));
const rec = new TrackingRecorder({ store, node: 'bench', logger: memoryLogger(), flushMs: 200 });
const id = (n: number) => `q${n.toString(32).padStart(15, '0')}`;

async function run(from: number, to: number): Promise<void> {
  for (let m = from; m < to; m++) {
    const cid = `c${m.toString(32).padStart(15, '0')}`;
    const rcpts = Array.from({ length: RCPTS }, (_, i) => `user${(m * 7 + i) % 5000}@ours${m % 20}.example`);
    rec.observe('connect', { cid, client: '127.0.0.1', listener: 'mx', revision: 1, action: 'accept', rule: 'rules 1-2', trail: ['client 127.0.0.1', 'client matches the relay host network loop', 'rules 1-2: connection accepted'] });
    for (const r of rcpts) rec.observe('rcpt', { cid, client: '127.0.0.1', user: null, helo: 'client.example', tx: 1, sender: 'a@bench.test', recipient: r, action: 'accept', code: 250, kind: 'relay', rule: 'rule 4', trail: ['relay host loop', 'rule 4: relayed for a relay host'] });
    rec.observe('queued', { id: id(m), cid, client: '127.0.0.1', user: null, sender: 'a@bench.test', recipients: rcpts.map((address) => ({ address, kind: 'relay', rule: 'rule 4' })), relayed: true, size: 1100, revision: 1, message_id: `<${m}.bench@bench.test>`, scan: { rule: 'scan', virus: { scanned: false, why: 'disabled' }, spam: { scanned: false, why: 'disabled' } } });
    for (const r of rcpts) rec.observe('delivery', { id: id(m), recipient: r, status: 'delivered', relay: '127.0.0.1:2526', code: 250, dsn: '2.0.0', response: '250 2.0.0 Ok: queued as ABC', attempt: 1, delay_s: 0, next_attempt: null });
    rec.observe('queue.removed', { id: id(m), reason: 'every recipient is done', delivered: RCPTS, deferred: 0, failed: 0 });
    rec.observe('disconnect', { cid, client: '127.0.0.1' });
    // As a relay's traffic comes: the event loop turns between messages, and a batch is written every 500 messages
    // (what the daemon's 200 ms timer gathers at 2,500 messages/s; unpaced, this loop would outrun the bound on
    // rows waiting, which is there for a store that cannot keep up, and drop rows).
    if (m % 50 === 49) await new Promise((r) => setImmediate(r));
    if (m % 500 === 499) await rec.flush();
  }
  await rec.flush();
}

await run(0, 2000); // warm-up (prepared statements, JIT)
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(2000, 2000 + MESSAGES);
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
await rec.close();
await store.close();
const per = (cpu.user + cpu.system) / 1000 / MESSAGES;
process.stdout.write(`recorder + SQLite store: ${MESSAGES} messages of ${RCPTS} recipient(s), ${(per * 1000).toFixed(0)} µs CPU per message (user ${(cpu.user / 1000 / MESSAGES * 1000).toFixed(0)} µs, system ${(cpu.system / 1000 / MESSAGES * 1000).toFixed(0)} µs), ${(wall / MESSAGES * 1000).toFixed(0)} µs wall; rows written ${rec.counts.written}, dropped ${rec.counts.dropped}\n`);
