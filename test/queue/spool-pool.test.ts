// Spool files made ahead (src/queue/spool-pool.ts): nothing is made for an
// idle relay; messages that come close together get a batch of empty files
// covered by one directory fsync, whose ids nextId() hands out and whose
// files begin() writes; a message written so is an ordinary committed
// message; files not used within their age, at close and after a crash are
// removed, and never read as messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpoolPool } from '../../src/queue/spool-pool.ts';
import { Spool } from '../../src/queue/spool.ts';
import { newQueueId, QUEUE_ID } from '../../src/queue/queue-id.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { envelopeFields } from '../support/envelope.ts';
import { spooledMessage } from '../support/spool-files.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-pool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Lets the pool's file creations (thread pool) finish. */
async function settled(pool: SpoolPool, ready: number): Promise<void> {
  for (let i = 0; i < 1000 && pool.count.ready < ready; i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(pool.count.ready >= ready, `files made ahead: ${pool.count.ready}`);
}

function fakePool(dir: string) {
  const clock = { now: 1_000_000 };
  const calls = { syncs: 0, marks: 0 };
  const pool = new SpoolPool({
    dir,
    size: 4,
    now: () => clock.now,
    mark: () => ++calls.marks,
    sync: async () => void calls.syncs++,
    newId: (now) => newQueueId(now),
  });
  return { pool, clock, calls };
}

test('an idle relay makes nothing ahead; messages close together get a batch of files under one directory fsync, handed out in id order', async (t) => {
  const dir = tempDir(t);
  const { pool, clock, calls } = fakePool(dir);
  t.after(() => pool.close());
  // One message a second: new ids, no file.
  for (let i = 0; i < 3; i++) {
    clock.now += 1000;
    assert.match(pool.nextId(), QUEUE_ID);
  }
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(calls.syncs, 0);
  // Two within 50 ms: a batch of 4 empty files, one mark and one fsync for all of them.
  clock.now += 10;
  pool.nextId();
  await settled(pool, 4);
  assert.equal(readdirSync(dir).length, 4);
  assert.ok(readdirSync(dir).every((n) => statSync(join(dir, n)).size === 0 && n.endsWith('.msg')));
  assert.deepEqual(calls, { syncs: 1, marks: 1 });
  const files = readdirSync(dir).map((n) => n.slice(0, 16)).sort();
  const first = pool.nextId();
  assert.equal(first, files[0]);
  assert.deepEqual(pool.count, { ready: 3, reserved: 1 });
  const taken = pool.take(first);
  assert.ok(taken);
  assert.equal(taken.mark, 1);
  assert.equal(pool.take(first), null, 'handed over once');
  assert.equal(pool.take(newQueueId()), null, 'an id of its own has no file');
});

test('files not used within a second are removed; close() removes what was not handed over', async (t) => {
  const dir = tempDir(t);
  const { pool, clock } = fakePool(dir);
  const gone = async (want: string[]) => {
    for (let i = 0; i < 200 && readdirSync(dir).length > want.length; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(readdirSync(dir).sort(), want.sort());
  };
  pool.nextId();
  clock.now += 5;
  pool.nextId();
  await settled(pool, 4);
  const reserved = pool.nextId();
  assert.deepEqual(pool.count, { ready: 3, reserved: 1 });
  // 1.5 s later: the ready ones are stale and go; the reserved one waits a while longer for its writer; no new batch (not busy).
  clock.now += 1500;
  const later = pool.nextId();
  assert.ok(!readdirSync(dir).includes(`${later}.msg`), 'a new id, no file');
  await gone([`${reserved}.msg`]);
  clock.now += 1000;
  pool.nextId();
  await gone([]);
  // close(): everything not handed over, at once.
  clock.now += 10;
  pool.nextId();
  await settled(pool, 4);
  const kept = pool.nextId();
  const handed = pool.take(kept);
  assert.ok(handed);
  t.after(() => closeSync(handed.fd));
  pool.nextId(); // reserved, never taken
  pool.close();
  assert.deepEqual(readdirSync(dir), [`${kept}.msg`]);
  assert.match(pool.nextId(), QUEUE_ID, 'closed: ids still come, nothing is made');
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(readdirSync(dir), [`${kept}.msg`]);
});

test('through the spool: a message written into a file made ahead is an ordinary committed message; a crash leaves empty files that the next start removes and nothing reads as mail', async (t) => {
  const dir = tempDir(t);
  const spool = new Spool(dir, memoryLogger());
  spool.open();
  const q = join(dir, 'spool', 'queue');
  spool.nextId();
  const id0 = spool.nextId();
  // Wait for the batch, then take one of its ids.
  for (let i = 0; i < 500 && spool.readyAhead < 16; i++) await new Promise((r) => setTimeout(r, 2));
  assert.equal(spool.readyAhead, 16);
  const id = spool.nextId();
  assert.notEqual(id, id0);
  assert.ok(readdirSync(q).includes(`${id}.msg`), 'the id handed out is a file made ahead');
  const w = spool.begin(id);
  await w.write(Buffer.from('Subject: ahead\r\n\r\nbody\r\n'));
  const env = await w.commit(envelopeFields());
  assert.equal(env.id, id);
  assert.equal(spooledMessage(dir, id).toString(), 'Subject: ahead\r\n\r\nbody\r\n');
  assert.deepEqual(spool.list().map((m) => m.envelope.id), [id], 'the empty files are not messages');
  // A crash: the process is gone without close(). The next start removes the empty files, keeps the message.
  const empty = readdirSync(q).filter((n) => n !== `${id}.msg`);
  assert.ok(empty.length > 0);
  const log = memoryLogger();
  const again = new Spool(dir, log);
  again.open();
  t.after(() => again.close());
  assert.deepEqual(readdirSync(q).filter((n) => !n.startsWith(id)).length, 0);
  assert.deepEqual(again.list().map((m) => m.envelope.id), [id]);
  assert.equal(log.lines.filter((l) => l.event === 'spool.orphan_removed').length, empty.length);
  assert.ok(!log.lines.some((l) => l.event === 'spool.corrupt'));
});
