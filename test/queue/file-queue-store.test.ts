// FileQueueStore, the single node's QueueStore over the spool files: claims
// and leases as the port documents them (claimed work is not handed out
// twice, an expired lease hands it out again, a settle with a lost claim
// throws and writes nothing), the due index (nextDue, deferred mail not due
// before its time, held mail never), admits(), bodies handed out as buffers
// and streams, and the index rebuilt from the files of an existing data
// directory at open(). `now` is the test's clock, so leases expire without
// waiting.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { ClaimLostError } from '../../src/queue/queue-store.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { queueFiles, spooledMessage, storedEnvelope } from '../support/spool-files.ts';
import { envelopeFields } from '../support/envelope.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-fqs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const opened: FileQueueStore[] = [];
test.afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function openStore(dir: string): Promise<FileQueueStore> {
  const store = new FileQueueStore(dir, memoryLogger());
  await store.open();
  opened.push(store);
  return store;
}

const fields = envelopeFields;

async function put(store: FileQueueStore, over: Partial<Envelope> = {}, body = Buffer.from('Subject: x\r\n\r\nhello\r\n')): Promise<Envelope> {
  const w = store.begin(newQueueId());
  await w.write(body);
  return (await w.commit(fields(over))).envelope;
}

const REQ = { node: 'n1', leaseMs: 60_000 };
const T0 = Date.parse('2026-06-01T00:00:00Z');

test('claimDue hands out due work once: a claimed message is not handed out again until it is settled or unclaimed', async (t) => {
  const store = await openStore(tempDir(t));
  const a = await put(store);
  const b = await put(store);
  const first = await store.claimDue({ ...REQ, now: T0, limit: 1 });
  assert.equal(first.length, 1);
  const second = await store.claimDue({ ...REQ, now: T0, limit: 10 });
  assert.deepEqual(
    [...first, ...second].map((c) => c.id).sort(),
    [a.id, b.id].sort(),
    'each message exactly once',
  );
  assert.deepEqual(await store.claimDue({ ...REQ, now: T0 + 1000, limit: 10 }), [], 'nothing more while the claims are live');
  assert.equal(await store.claim(a.id, { ...REQ, node: 'n2', now: T0 }), null, 'claim() of a claimed message is refused');
  assert.deepEqual(await store.holder(a.id, T0), { node: 'n1', until: T0 + 60_000 });
  assert.deepEqual([...(await store.claimsByNode(T0))], [['n1', 2]]);
  // The claim carries the envelope as on disk.
  const ca = [...first, ...second].find((c) => c.id === a.id);
  assert.ok(ca);
  assert.deepEqual(ca.envelope, a);

  await store.unclaim(ca);
  const again = await store.claimDue({ ...REQ, now: T0, limit: 10 });
  assert.deepEqual(
    again.map((c) => c.id),
    [a.id],
    'an unclaimed message is due again',
  );
});

test('an expired lease hands the message out again; the old claim can then neither renew nor settle, and its settle writes nothing', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  const env = await put(store);
  const [old] = await store.claimDue({ ...REQ, now: T0, limit: 10 });
  assert.ok(old);
  assert.deepEqual(await store.claimDue({ ...REQ, node: 'n2', now: T0 + 59_999, limit: 10 }), [], 'the lease still runs');
  const [taken] = await store.claimDue({ ...REQ, node: 'n2', now: T0 + 60_000, limit: 10 });
  assert.equal(taken?.id, env.id, 'handed out again once the lease has expired');
  assert.notEqual(taken?.token, old.token);
  assert.deepEqual(await store.holder(env.id, T0 + 60_001), { node: 'n2', until: T0 + 120_000 });

  assert.deepEqual(await store.renew([old], 60_000, T0 + 60_001), [env.id], 'renewal of the lost claim reports it lost');
  const before = queueFiles(join(dir, 'spool', 'queue'));
  const changed: Envelope = structuredClone(env);
  changed.recipients[0]!.status = 'failed';
  await assert.rejects(store.settle(old, changed), ClaimLostError);
  await assert.rejects(store.settle(old, null), ClaimLostError);
  assert.equal(queueFiles(join(dir, 'spool', 'queue')), before, 'a lost settle wrote nothing');
  assert.ok(await store.read(env.id), 'and removed nothing');

  // The new owner settles normally.
  await store.settle(taken!, null);
  assert.equal(await store.read(env.id), null);
});

test('renew extends a live lease: the message is not handed out at the old expiry', async (t) => {
  const store = await openStore(tempDir(t));
  const env = await put(store);
  const [c] = await store.claimDue({ ...REQ, now: T0, limit: 1 });
  assert.ok(c);
  assert.deepEqual(await store.renew([c], 60_000, T0 + 50_000), []);
  assert.equal(c.until, T0 + 110_000);
  assert.deepEqual(await store.claimDue({ ...REQ, node: 'n2', now: T0 + 70_000, limit: 10 }), [], 'renewed: not expired at the old time');
  const [later] = await store.claimDue({ ...REQ, node: 'n2', now: T0 + 110_000, limit: 10 });
  assert.equal(later?.id, env.id);
});

test('settle records the new envelope; a deferred message is due at its next attempt (nextDue), a held one never', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  const env = await put(store);
  assert.equal(await store.nextDue(), 0, 'new mail is due at once');
  const [c] = await store.claimDue({ ...REQ, now: T0, limit: 10 });
  assert.ok(c);
  assert.equal(await store.nextDue(), null, 'a claimed message is nobody else\'s next work');
  const deferred: Envelope = structuredClone(c.envelope);
  const at = T0 + 300_000;
  Object.assign(deferred.recipients[0]!, { status: 'deferred', next_attempt: new Date(at).toISOString(), attempts: 1 });
  let work = 0;
  store.onWork(() => work++);
  await store.settle(c, deferred);
  assert.ok(work >= 1, 'a settle announces work');
  assert.deepEqual(storedEnvelope(join(dir, 'spool', 'queue'), env.id).recipients[0]!.status, 'deferred');
  assert.equal(await store.nextDue(), at);
  assert.deepEqual(await store.claimDue({ ...REQ, now: at - 1, limit: 10 }), [], 'not before its time');
  const [again] = await store.claimDue({ ...REQ, now: at, limit: 10 });
  assert.equal(again?.id, env.id);
  const held: Envelope = { ...structuredClone(again.envelope), held: true };
  await store.settle(again, held);
  assert.equal(await store.nextDue(), null, 'a held message is never due');
  assert.deepEqual(await store.claimDue({ ...REQ, now: at + 1e9, limit: 10 }), []);
  // An admin may still claim it (to release it).
  const admin = await store.claim(env.id, { ...REQ, now: at });
  assert.equal(admin?.envelope.held, true);
});

test('commit with a claim returns the claim at once; without one it announces work', async (t) => {
  const store = await openStore(tempDir(t));
  let work = 0;
  store.onWork(() => work++);
  const w = store.begin(newQueueId());
  await w.write(Buffer.from('Subject: x\r\n\r\nhi\r\n'));
  const done = await w.commit(fields(), { claim: REQ });
  assert.ok(done.claim);
  assert.equal(done.claim.id, done.envelope.id);
  assert.equal(work, 0, 'claimed by the committer: no one else needs waking');
  assert.deepEqual(await store.claimDue({ ...REQ, now: Date.now(), limit: 10 }), [], 'not handed out while claimed');
  await put(store);
  assert.equal(work, 1);
  const q = store.begin(newQueueId());
  await q.write(Buffer.from('x\r\n'));
  const qq = await q.commit(fields({ quarantine: { at: 'now', rule: 'r', reason: 'why' } }), { area: 'quarantine', claim: REQ });
  assert.equal(qq.claim, null, 'quarantined mail is not claimed');
  assert.equal((await store.list('quarantine')).length, 1);
});

test('body() hands out the message as a buffer and as a stream, never a path; headers() the header section', async (t) => {
  const store = await openStore(tempDir(t));
  const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(3 * 1024 * 1024, 'a')]);
  const env = await put(store, {}, big);
  const b = await store.body(env.id);
  assert.ok(b);
  assert.equal(b.size, big.length);
  assert.ok((await b.whole()).equals(big));
  const parts: Buffer[] = [];
  for await (const chunk of b.stream()) parts.push(chunk as Buffer);
  assert.ok(parts.length > 1, 'streamed in chunks');
  assert.ok(Buffer.concat(parts).equals(big));
  assert.equal((await store.headers(env.id)).toString(), 'Subject: big\r\n');
  assert.equal(await store.body(newQueueId()), null);
});

test('a small message just committed is delivered from memory (the file it was written to is not read back) until its first attempt settles; edits are in what is held', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  const q = join(dir, 'spool', 'queue');
  const w = store.begin(newQueueId());
  await w.write(Buffer.from('Subject: small\r\n\r\nhello\r\n'));
  const { envelope: env, claim } = await w.commit(fields(), { edit: { add: ['X-Added: 1'], remove: [], subjectTag: null }, claim: REQ });
  assert.ok(claim);
  assert.equal(store.freshCount, 1);
  const onDisk = spooledMessage(dir, env.id);
  assert.match(onDisk.toString(), /^X-Added: 1\r\nSubject: small\r\n/);
  // The file is moved away: what body() gives can only come from memory.
  renameSync(join(q, `${env.id}.msg`), join(dir, 'aside'));
  const held = await store.body(env.id);
  assert.ok(held);
  assert.equal(held.size, env.size);
  assert.ok((await held.whole()).equals(onDisk));
  const streamed: Buffer[] = [];
  for await (const c of held.stream()) streamed.push(c as Buffer);
  assert.ok(Buffer.concat(streamed).equals(onDisk));
  renameSync(join(dir, 'aside'), join(q, `${env.id}.msg`));
  // Deferred: later attempts read the file.
  const deferred = structuredClone(env);
  Object.assign(deferred.recipients[0]!, { status: 'deferred', attempts: 1, next_attempt: new Date(Date.now() + 60_000).toISOString() });
  await store.settle(claim, deferred);
  assert.equal(store.freshCount, 0);
  renameSync(join(q, `${env.id}.msg`), join(dir, 'aside'));
  assert.equal(await store.body(env.id), null, 'read from disk once settled');
  renameSync(join(dir, 'aside'), join(q, `${env.id}.msg`));
  // Nothing is held for a message past the in-memory size, nor for a quarantined one, nor once removed.
  await put(store, {}, Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(200 * 1024, 'a')]));
  const qw = store.begin(newQueueId());
  await qw.write(Buffer.from('Subject: q\r\n\r\nx\r\n'));
  await qw.commit(fields({ quarantine: { at: new Date().toISOString(), rule: 'r', reason: 'x' } }), { area: 'quarantine' });
  assert.equal(store.freshCount, 0);
  const c = await put(store);
  assert.equal(store.freshCount, 1);
  await store.remove(c.id);
  assert.equal(store.freshCount, 0);
});

test('admits() answers from the file system\'s free space', async (t) => {
  const store = await openStore(tempDir(t));
  assert.deepEqual(store.admits(0), { ok: true });
  const no = store.admits(Number.MAX_SAFE_INTEGER);
  assert.equal(no.ok, false);
  if (!no.ok) assert.match(no.reason, /min_free_space/);
});

test('an existing data directory: open() rebuilds the due index from the files (deferred, held and due mail)', async (t) => {
  const dir = tempDir(t);
  const first = await openStore(dir);
  const due = await put(first);
  const later = await put(first, { recipients: [{ address: 'c@example.org', kind: 'relay', rule: 'r', status: 'deferred', next_attempt: new Date(T0 + 5000).toISOString() }] });
  await put(first, { held: true });
  await first.close();

  const store = await openStore(dir);
  assert.equal(store.indexed, 2, 'the held message is not in the due index');
  assert.equal(await store.nextDue(), 0);
  const now = await store.claimDue({ ...REQ, now: T0, limit: 10 });
  assert.deepEqual(
    now.map((c) => c.id),
    [due.id],
  );
  assert.equal(await store.nextDue(), T0 + 5000);
  const [next] = await store.claimDue({ ...REQ, now: T0 + 5000, limit: 10 });
  assert.equal(next?.id, later.id);
});

test('claimDue reads only the envelopes it hands out', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(dir);
  for (let i = 0; i < 50; i++) await put(store, { recipients: [{ address: 'c@example.org', kind: 'relay', rule: 'r', status: 'deferred', next_attempt: new Date(T0 + 60_000 + i).toISOString() }] });
  const fresh = await put(store);
  let reads = 0;
  const read = store.spool.read.bind(store.spool);
  store.spool.read = (...args) => {
    reads++;
    return read(...args);
  };
  const got = await store.claimDue({ ...REQ, now: T0, limit: 100 });
  assert.deepEqual(
    got.map((c) => c.id),
    [fresh.id],
  );
  assert.equal(reads, 1, 'one envelope read, not the backlog');
});

test('a worker process\'s store (attach) keeps nothing per message, and the primary adopts what a dead worker committed without saying so', async (t) => {
  const dir = tempDir(t);
  const primary = await openStore(dir);
  const worker = new FileQueueStore(dir, memoryLogger());
  await worker.attach();
  opened.push(worker);
  const announced = await put(primary);
  const silent = await put(worker);
  // The worker indexes nothing: it neither delivers nor counts.
  assert.equal(await worker.nextDue(), null);
  assert.deepEqual((await primary.claimDue({ ...REQ, now: Date.now() + 1000, limit: 10 })).map((c) => c.id), [announced.id]);
  let woken = 0;
  primary.onWork(() => woken++);
  assert.equal(primary.adoptUnknown(), 1);
  assert.equal(woken, 1);
  // Found once: known from then on (and the claimed one is not taken for unknown).
  assert.equal(primary.adoptUnknown(), 0);
  const claims = await primary.claimDue({ ...REQ, now: Date.now() + 1000, limit: 10 });
  assert.deepEqual(claims.map((c) => c.id), [silent.id]);
  assert.equal((await primary.census()).queued.count, 2);
});
