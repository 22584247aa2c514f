// Upgrade: a spool written by the previous version (`<id>.eml` + `<id>.json`
// in queue/ and quarantine/) is recovered, listed, read, delivered (removed),
// deferred, released and split by this one, which writes only `<id>.msg`.
// Also the recovery cases of the one-file layout that need two files: a lone
// `<id>.json` left by an interrupted removal, and a released copy whose
// envelope never landed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { envelopeFields } from '../support/envelope.ts';
import { storedEnvelope } from '../support/spool-files.ts';

const REQ = { node: 'n1', leaseMs: 60_000 };
const ls = (d: string): string[] => readdirSync(d).sort();

function oldLayout(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-upgrade-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = join(dir, 'spool', 'queue');
  const qq = join(dir, 'spool', 'quarantine');
  for (const d of [q, qq, join(dir, 'spool', 'tmp')]) mkdirSync(d, { recursive: true });
  const put = (area: string, over: Partial<Envelope> = {}, body = 'Subject: old\r\n\r\nwritten by the previous version\r\n'): Envelope => {
    const id = newQueueId();
    const env: Envelope = { ...envelopeFields(over), id, size: Buffer.byteLength(body) };
    writeFileSync(join(area, `${id}.eml`), body);
    writeFileSync(join(area, `${id}.json`), JSON.stringify(env, null, 1));
    return env;
  };
  return { dir, q, qq, put };
}

test('a queue of the previous layout is recovered, listed, read, deferred and delivered; nothing is rewritten into the new layout', async (t) => {
  const { dir, q, put } = oldLayout(t);
  const a = put(q);
  const b = put(q, {}, 'Subject: second\r\n\r\n' + 'x'.repeat(300_000) + '\r\n');
  const orphan = newQueueId();
  writeFileSync(join(q, `${orphan}.eml`), 'never committed by the previous version');
  const log = memoryLogger();
  const store = new FileQueueStore(dir, log);
  await store.open();
  t.after(() => store.close());
  assert.deepEqual(log.lines.map((l) => [l.event, l.fields.id]), [['spool.orphan_removed', orphan]]);
  // Oldest first, by id (two ids of the same millisecond sort by their random part).
  assert.deepEqual((await store.list()).map((e) => e.id), [a.id, b.id].sort());
  assert.deepEqual(await store.read(a.id), a);
  const body = await store.body(b.id);
  assert.ok(body);
  assert.equal(body.size, b.size);
  assert.match((await body.whole()).toString('latin1'), /^Subject: second\r\n\r\nx{300000}\r\n$/);
  let streamed = 0;
  for await (const c of body.stream()) streamed += (c as Buffer).length;
  assert.equal(streamed, b.size);
  assert.equal((await store.headers(a.id)).toString('latin1'), 'Subject: old\r\n');

  // Deferred: the new envelope replaces the old .json; the .eml stays.
  const [ca, cb] = await store.claimDue({ ...REQ, now: Date.now(), limit: 10 });
  assert.ok(ca && cb);
  const deferred: Envelope = structuredClone(ca.envelope);
  Object.assign(deferred.recipients[0]!, { status: 'deferred', attempts: 1, next_attempt: new Date(Date.now() + 3_600_000).toISOString() });
  await store.settle(ca, deferred);
  // Claimed in id order, which for two ids of the same millisecond need not be the order written.
  const [first, second] = [ca.envelope.id, cb.envelope.id];
  assert.deepEqual([first, second], [a.id, b.id].sort());
  assert.deepEqual(ls(q), [`${first}.eml`, `${first}.json`, `${second}.eml`, `${second}.json`].sort());
  assert.equal(storedEnvelope(q, first).recipients[0]?.status, 'deferred');
  // Delivered: both files go.
  await store.settle(cb, null);
  assert.deepEqual(ls(q), [`${first}.eml`, `${first}.json`]);
  await store.remove(first);
  assert.deepEqual(ls(q), []);

  // A second start finds nothing to do.
  const again = new FileQueueStore(dir, memoryLogger());
  await again.open();
  t.after(() => again.close());
  assert.deepEqual(await again.list(), []);
});

test('a quarantine of the previous layout is released and split; an interrupted release of it is undone at start', async (t) => {
  const { dir, q, qq, put } = oldLayout(t);
  const quarantine = { at: '2026-01-02T03:04:05.000Z', rule: 'antivirus.action', reason: 'malware found: X' };
  const two = [
    { address: 'b@example.org', kind: 'relay' as const, rule: 'rule 7', status: 'queued' as const },
    { address: 'c@example.org', kind: 'relay' as const, rule: 'rule 7', status: 'queued' as const },
  ];
  const released = put(qq, { quarantine });
  const split = put(qq, { quarantine, recipients: two });
  const cut = put(qq, { quarantine });
  linkSync(join(qq, `${cut.id}.eml`), join(q, `${cut.id}.eml`)); // a release cut off before its envelope landed
  const log = memoryLogger();
  const store = new FileQueueStore(dir, log);
  await store.open();
  t.after(() => store.close());
  assert.deepEqual(log.lines.map((l) => [l.event, l.fields.area, l.fields.id]), [['spool.orphan_removed', 'queue', cut.id]]);
  assert.deepEqual((await store.list('quarantine')).map((e) => e.id), [released.id, split.id, cut.id].sort());
  assert.deepEqual((await store.census()).quarantined, 3);

  const { quarantine: _, ...out } = released;
  await store.release(out);
  assert.deepEqual(await store.read(released.id), out);
  assert.equal((await (await store.body(released.id))!.whole()).toString('latin1'), 'Subject: old\r\n\r\nwritten by the previous version\r\n');
  assert.ok(!existsSync(join(qq, `${released.id}.eml`)) && !existsSync(join(qq, `${released.id}.json`)));

  const share: Envelope = { ...split, id: newQueueId(), recipients: [two[0]!] };
  delete share.quarantine;
  await store.splitQuarantined(split, { ...split, recipients: [two[1]!] }, share);
  assert.deepEqual(await store.read(share.id), share);
  assert.equal((await store.body(share.id))?.size, split.size);
  assert.deepEqual((await store.read(split.id, 'quarantine'))?.recipients.map((r) => r.address), ['c@example.org']);
});

test('one-file layout: a lone envelope of a finished message is an interrupted removal (dropped quietly); a pending one goes to corrupt/', async (t) => {
  const { dir, q } = oldLayout(t);
  const done = newQueueId();
  writeFileSync(join(q, `${done}.json`), JSON.stringify({ ...envelopeFields({ recipients: [{ address: 'b@example.org', kind: 'relay', rule: 'rule 7', status: 'delivered' }] }), id: done, size: 3 }));
  const pending = newQueueId();
  writeFileSync(join(q, `${pending}.json`), JSON.stringify({ ...envelopeFields(), id: pending, size: 3 }));
  const log = memoryLogger();
  const store = new FileQueueStore(dir, log);
  await store.open();
  t.after(() => store.close());
  assert.deepEqual(ls(q), []);
  assert.deepEqual(ls(join(dir, 'spool', 'corrupt')), [`${pending}.json`]);
  assert.deepEqual(log.lines.map((l) => [l.event, l.fields.id]).sort(), [['spool.corrupt', pending], ['spool.removal_completed', done]].sort());
});

test('one-file layout: a message deferred then delivered leaves nothing; a split copy whose envelope never landed is removed at start', async (t) => {
  const { dir, q, qq } = oldLayout(t);
  const store = new FileQueueStore(dir, memoryLogger());
  await store.open();
  const w = store.begin(newQueueId());
  await w.write(Buffer.from('Subject: new\r\n\r\nbody\r\n'));
  const { envelope: env, claim } = await w.commit(envelopeFields(), { claim: REQ });
  assert.ok(claim);
  assert.deepEqual(ls(q), [`${env.id}.msg`], 'the fast path: one file');
  const deferred: Envelope = structuredClone(env);
  Object.assign(deferred.recipients[0]!, { status: 'deferred', attempts: 1, next_attempt: new Date(Date.now() - 1).toISOString() });
  await store.settle(claim, deferred);
  assert.deepEqual(ls(q), [`${env.id}.json`, `${env.id}.msg`], 'a later envelope beside the file');
  assert.deepEqual(await store.read(env.id), deferred, 'and it supersedes the trailer');
  const [again] = await store.claimDue({ ...REQ, now: Date.now(), limit: 1 });
  assert.equal(again?.id, env.id);
  await store.settle(again!, null);
  assert.deepEqual(ls(q), []);

  // A quarantined message (new layout) hard-linked into queue/ under a new id, as a split does before the copy's envelope is written.
  const qw = store.begin(newQueueId());
  await qw.write(Buffer.from('Subject: q\r\n\r\nbody\r\n'));
  const { envelope: qenv } = await qw.commit({ ...envelopeFields(), quarantine: { at: '2026-01-02T03:04:05.000Z', rule: 'r', reason: 'x' } }, { area: 'quarantine' });
  assert.deepEqual(ls(qq), [`${qenv.id}.msg`]);
  const copy = newQueueId();
  linkSync(join(qq, `${qenv.id}.msg`), join(q, `${copy}.msg`));
  assert.equal(await store.read(copy), null, 'a copy without its own envelope is not a queued message');
  await store.close();
  const log = memoryLogger();
  const restarted = new FileQueueStore(dir, log);
  await restarted.open();
  t.after(() => restarted.close());
  assert.deepEqual(ls(q), []);
  assert.deepEqual(log.lines.map((l) => [l.event, l.fields.id]), [['spool.orphan_removed', copy]]);
  assert.deepEqual((await restarted.list('quarantine')).map((e) => e.id), [qenv.id]);
});
