// A tracking.db locked by another process (a write transaction held open,
// as a backup tool or an administrator's sqlite3 would) must not stall the
// daemon: node:sqlite is synchronous on the event loop, so a store that
// waited for the lock (busy_timeout) froze mail, scrapes and the API for
// seconds per batch. With the real daemon, a real next hop and swaks: each
// transaction under the lock finishes at once, the API answers at once,
// the log says the rows were kept, and once the lock goes they are written.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { swaks, swaksMissing } from '../smtp/harness.ts';
import { must, startTrackedRelay } from '../api/tracking-traffic.ts';
import { SqliteTrackingStore } from '../../src/tracking/sqlite-tracking-store.ts';

const skip = swaksMissing();

/** Under load (two cores shared by several test runs) a transaction takes well under this; waiting for the lock took 5 s. */
const QUICK_MS = 1500;

/** A python3 process that holds a write transaction on the file until its stdin closes; resolves once it holds it. */
async function holdWriteLock(file: string): Promise<{ release: () => Promise<void> }> {
  const py = ['import sqlite3,sys', 'c=sqlite3.connect(sys.argv[1],isolation_level=None,timeout=10)', "c.execute('BEGIN IMMEDIATE')", "c.execute(\"insert into track_event(at,event,fields) values(0,'test-lock','{}')\")", "print('locked',flush=True)", 'sys.stdin.read()', "c.execute('ROLLBACK')", 'c.close()'].join('\n');
  const child = spawn('python3', ['-c', py, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`python3 exited (${code}) before it held the lock`)));
  });
  return {
    release: async () => {
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    },
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

test('a write-locked tracking.db: mail and the API go on at once, the rows wait and are written when the lock goes', { skip }, async (t) => {
  const { relay, api, password } = await startTrackedRelay(t);
  const me = await api.login('admin', password);
  const sendOne = async (n: number) => {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(relay.ports.mx), '--from', `locked${n}@sender.example`, '--to', 'bob@example.com', '--timeout', '10']);
    assert.equal(r.status, 0, r.out);
    const id = /queued as ([0-9a-z]{16})/.exec(r.out)?.[1];
    assert.ok(id, r.out);
    return id;
  };
  // One message first, so that tracking.db has its tables and a written row.
  const before = await sendOne(0);
  assert.equal((await must(api, me, `/api/tracking?id=${before}`)).entries.length, 1);

  const lock = await holdWriteLock(join(relay.dataDir, 'tracking.db'));
  let released = false;
  t.after(() => (released ? undefined : lock.release()));
  const ids: string[] = [];
  for (let n = 1; n <= 4; n++) {
    const { ms, value } = await timed(() => sendOne(n));
    ids.push(value);
    assert.ok(ms < QUICK_MS, `transaction ${n} took ${Math.round(ms)} ms under the lock`);
    // Let the recorder's batch (every 200 ms) meet the lock between the messages.
    await relay.waitLog((l) => l.event === 'delivery' && l.id === value);
  }
  // The recorder's error (the batch kept); the retention pruner may meet the lock too and says so in a line of its own.
  const err = await relay.waitLog((l) => l.event === 'tracking.error' && !/prune/.test(String(l.error)));
  assert.equal(err.kept, true, JSON.stringify(err));
  assert.match(String(err.error), /locked/);
  assert.ok(!relay.logs.some((l) => l.event === 'tracking.dropped'), 'nothing lost: the bound was not reached');

  // The API flushes the recorder before it reads (a write that fails at once) and reads in WAL: quick, and a 200.
  const search = await timed(() => must(api, me, '/api/tracking?from=%40sender.example'));
  assert.ok(search.ms < QUICK_MS, `the search took ${Math.round(search.ms)} ms under the lock`);
  const timeline = await timed(() => must(api, me, `/api/tracking/${before}`));
  assert.ok(timeline.ms < QUICK_MS, `the timeline took ${Math.round(timeline.ms)} ms under the lock`);
  assert.equal(timeline.value.entries[0].queue_id, before);

  await lock.release();
  released = true;
  // The kept rows are written at the next try: every message sent under the lock is found.
  const store = new SqliteTrackingStore(join(relay.dataDir, 'tracking.db'));
  t.after(() => store.close());
  for (const id of ids) {
    let found = 0;
    for (let i = 0; i < 100 && found === 0; i++) {
      found = (await store.search({ id })).entries.length;
      if (found === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(found, 1, `${id} (sent under the lock) is recorded once the lock went`);
  }
  assert.equal(await relay.stop(), 0);
});
