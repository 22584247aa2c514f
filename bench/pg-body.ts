// A store-level measure of the cluster's body path (issue #15): the PostgreSQL
// queue store alone, without SMTP, HAProxy or a sink, driven the way a node
// drives it for each message — write the body as it arrives, read it back for
// the scan (contents()), commit with a claim, then deliver: body(), whole(),
// settle. It reports the node's CPU (this process) and the database's (its
// process tree) per message, statements per message and WAL bytes per message,
// so that a change to the body path can be measured in seconds, then confirmed
// by the cluster cells of bench/run.ts.
//
//   node bench/pg-body.ts [--size 102400] [--count 1000] [--parallel 20] [--prof DIR]

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import { BenchPostgres } from './lib/postgres.ts';
import { cpuMs } from './lib/procfs.ts';
import { connectPg } from '../src/store/pg/connect.ts';
import { migrate } from '../src/store/pg/schema.ts';
import { PgQueueStore } from '../src/store/pg/queue-store.ts';
import type { Envelope } from '../src/queue/envelope.ts';

const { values: o } = parseArgs({
  options: {
    size: { type: 'string', default: '102400' },
    count: { type: 'string', default: '1000' },
    parallel: { type: 'string', default: '20' },
    prof: { type: 'string' },
  },
});
const size = Number(o.size);
const count = Number(o.count);
const parallel = Number(o.parallel);

/** A message like the bench's: a few headers, then base64 lines of random data (incompressible, as most mail). */
function message(n: number): Buffer {
  const head = `From: a@example.test\r\nTo: b@example.test\r\nSubject: m${n}\r\nMessage-ID: <${n}@bench>\r\n\r\n`;
  const lines: string[] = [];
  let len = head.length;
  while (len < size) {
    const line = randomBytes(57).toString('base64');
    lines.push(line);
    len += line.length + 2;
  }
  return Buffer.from(head + lines.join('\r\n') + '\r\n').subarray(0, size);
}

const envelope = (): Omit<Envelope, 'size' | 'id'> =>
  ({ version: 1, received_at: new Date().toISOString(), sender: 'a@example.test', recipients: [{ address: 'b@example.test', kind: 'relay', rule: 'rule 1', status: 'queued' }], client: { address: '127.0.0.1', helo: 'bench', user: null } }) as unknown as Omit<Envelope, 'size' | 'id'>;

const dir = mkdtempSync(join(tmpdir(), 'mw-pgbody-'));
// The server runs as the postgres user: it must reach its directory.
chmodSync(dir, 0o755);
const pg = await BenchPostgres.start(join(dir, 'pg'));
try {
  const url = await pg.createDatabase('bench');
  const sql = connectPg(url, { max: 10 });
  await migrate(sql);
  const store = new PgQueueStore(sql);
  await store.open();
  const bodies = Array.from({ length: 16 }, (_, i) => message(i));

  let seq = 0;
  const one = async (n: number) => {
    const id = `${Date.now().toString(36)}-${process.pid}-${n}`;
    const w = store.begin(id);
    const body = bodies[n % bodies.length]!;
    // SMTP DATA arrives in socket reads of up to 64 KiB.
    for (let at = 0; at < body.length; at += 65536) await w.write(body.subarray(at, at + 65536));
    const src = await w.contents();
    for await (const _ of src.chunks());
    const { claim } = await w.commit(envelope(), { claim: { node: 'n1', leaseMs: 60_000 } });
    const stored = await store.body(id);
    const whole = await stored!.whole();
    if (whole.length !== body.length) throw new Error('short body');
    await store.settle(claim!, null);
  };
  const runAll = async (total: number) => {
    seq = 0;
    await Promise.all(Array.from({ length: parallel }, async () => {
      for (let n = seq++; n < total; n = seq++) await one(n);
    }));
  };

  await runAll(Math.min(200, count));
  await sql`CHECKPOINT`;
  const session = o.prof ? new Session() : null;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const a = await pg.reading();
  const nodeA = process.cpuUsage();
  const pgA = cpuMs([pg.pid]);
  const t0 = performance.now();
  await runAll(count);
  const secs = (performance.now() - t0) / 1000;
  const nodeB = process.cpuUsage(nodeA);
  const pgB = cpuMs([pg.pid]);
  const b = await pg.reading();
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(o.prof!, `pg-body-${Date.now()}.cpuprofile`), JSON.stringify(profile));
  }
  const d = await pg.delta(a, b, 1);
  const ms = (nodeB.user + nodeB.system) / 1000 / count;
  console.log(JSON.stringify({ size, count, parallel, msgsPerSec: +(count / secs).toFixed(1), nodeMsPerMsg: +ms.toFixed(3), pgMsPerMsg: +((pgB - pgA) / count).toFixed(3), statementsPerMsg: +(d.statements / count).toFixed(2), walBytesPerMsg: Math.round(d.walBytes / count) }));
  // The body table's size after the run: a table that grows with the mail that passed (instead of the mail in
  // flight) means autovacuum is not keeping up, and every insert extends the file and evicts dirty pages itself.
  const [sizes] = await sql`SELECT pg_total_relation_size('queue_chunk') AS chunks, pg_total_relation_size('queue_message') AS messages`;
  console.log(JSON.stringify({ queueChunkBytes: Number(sizes!.chunks), queueMessageBytes: Number(sizes!.messages) }));
  await pg.dumpStatements(join(dir, 'statements.txt'));
  if (process.env.KEEP_STATEMENTS) writeFileSync(process.env.KEEP_STATEMENTS, readFileSync(join(dir, 'statements.txt')));
  await store.close();
  await sql.end({ timeout: 2 });
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
