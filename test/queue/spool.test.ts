// The durable spool on its own, in a temp directory: commit writes the
// message and its envelope (size = file size), abort leaves nothing, small
// and multi-megabyte messages round-trip byte for byte, recovery at open
// (tmp/ emptied, uncommitted messages removed, unreadable files moved to
// corrupt/ with a log line), list() order, and the queue id format.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../../src/queue/spool.ts';
import { isEnvelope, type Envelope } from '../../src/queue/envelope.ts';
import { newQueueId, QUEUE_ID } from '../../src/queue/queue-id.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { envelopeFields } from '../support/envelope.ts';
import { storedEnvelope, storedMessage } from '../support/spool-files.ts';

type Logged = ReturnType<typeof memoryLogger>;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openSpool(t: { after: (fn: () => void) => void }, dir = tempDir(t)): { spool: Spool; log: Logged; dir: string } {
  const log = memoryLogger();
  const spool = new Spool(dir, log);
  spool.open();
  return { spool, log, dir };
}


const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const ls = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).sort() : []);

/** Writes one committed message straight through the API. */
async function put(spool: Spool, body: Buffer, id = newQueueId()): Promise<Envelope> {
  const w = spool.begin(id);
  await w.write(body);
  return w.commit(envelopeFields());
}

test('open creates spool/{tmp,queue,corrupt} owner-only', (t) => {
  const { spool, dir } = openSpool(t);
  assert.equal(spool.root, join(dir, 'spool'));
  for (const d of [spool.root, spool.tmpDir, spool.queueDir, spool.corruptDir]) {
    assert.ok(statSync(d).isDirectory(), d);
    assert.equal(statSync(d).mode & 0o077, 0, `${d} must not be readable by others`);
  }
  assert.deepEqual(ls(spool.queueDir), []);
});

test('commit writes the message and its envelope; the envelope size is the file size', async (t) => {
  const { spool, log } = openSpool(t);
  const id = newQueueId();
  const w = spool.begin(id);
  const parts = [Buffer.from('Received: from x\r\n'), Buffer.from('Subject: hi\r\n\r\n'), Buffer.from('hello\r\n')];
  for (const p of parts) await w.write(p);
  assert.equal(w.size, Buffer.concat(parts).length);
  const env = await w.commit(envelopeFields());

  assert.deepEqual(ls(spool.queueDir), [`${id}.msg`], 'one file per message');
  assert.deepEqual(ls(spool.tmpDir), [], 'tmp/ is empty after commit');
  const eml = storedMessage(spool.queueDir, id);
  assert.deepEqual(eml, Buffer.concat(parts));
  assert.ok(readFileSync(join(spool.queueDir, `${id}.msg`)).subarray(0, eml.length).equals(eml), 'the message is the file from octet 0');
  const onDisk = storedEnvelope(spool.queueDir, id);
  assert.ok(isEnvelope(onDisk));
  assert.equal(onDisk.id, id);
  assert.equal(onDisk.size, eml.length);
  assert.ok(statSync(join(spool.queueDir, `${id}.msg`)).size > eml.length, 'the trailer follows the message');
  assert.deepEqual(onDisk, env, 'commit resolves with what it wrote');
  assert.deepEqual(onDisk, { ...envelopeFields(), id, size: eml.length });
  assert.equal(statSync(join(spool.queueDir, `${id}.msg`)).mode & 0o077, 0, 'the file is owner-only');

  const read = spool.read(id);
  assert.ok(read);
  assert.deepEqual(read.envelope, env);
  assert.equal(read.messagePath, join(spool.queueDir, `${id}.msg`));
  assert.equal(read.size, eml.length);
  assert.deepEqual(log.lines, [], 'a clean commit logs nothing');
});

test('an empty message commits with size 0', async (t) => {
  const { spool } = openSpool(t);
  const id = newQueueId();
  const env = await spool.begin(id).commit(envelopeFields());
  assert.equal(env.size, 0);
  assert.equal(storedMessage(spool.queueDir, id).length, 0);
  assert.ok(spool.read(id));
});

test('a finished writer refuses further writes and a second commit', async (t) => {
  const { spool } = openSpool(t);
  const w = spool.begin(newQueueId());
  await w.write(Buffer.from('x\r\n'));
  await w.commit(envelopeFields());
  await assert.rejects(w.write(Buffer.from('more')), /already finished/);
  await assert.rejects(w.commit(envelopeFields()), /already finished/);
  await w.abort(); // after commit: a no-op, the message stays
  assert.equal(spool.list().length, 1);
});

test('abort leaves nothing behind: buffered only, flushed to disk, twice, then no commit', async (t) => {
  const { spool } = openSpool(t);
  // Only buffered (below the flush threshold: nothing written yet).
  const small = spool.begin(newQueueId());
  await small.write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
  await small.abort();
  // Flushed: the file exists in queue/ (created as DATA starts) before abort, not yet a message.
  const bigId = newQueueId();
  const big = spool.begin(bigId);
  await big.write(Buffer.alloc(200 * 1024, 0x61));
  assert.ok(ls(spool.queueDir).includes(`${bigId}.msg`), 'the large write reached queue/');
  assert.equal(spool.read(bigId), null, 'a message still arriving is not read');
  assert.deepEqual(spool.list(), [], 'nor listed');
  await big.abort();
  await big.abort();
  assert.deepEqual(ls(spool.tmpDir), []);
  assert.deepEqual(ls(spool.queueDir), []);
  await assert.rejects(big.commit(envelopeFields()), /already finished/);
  await assert.rejects(big.write(Buffer.from('x')), /already finished/);
  assert.deepEqual(ls(spool.queueDir), [], 'commit after abort must not create files');
  assert.deepEqual(spool.list(), []);
});

test('a message just over 64 KiB and one of several MB written in chunks round-trip exactly', async (t) => {
  const { spool } = openSpool(t);
  // 64 KiB + 1 in two writes: exactly at and past the flush threshold.
  const a = randomBytes(64 * 1024 + 1);
  const wa = spool.begin(newQueueId());
  await wa.write(a.subarray(0, 64 * 1024));
  await wa.write(a.subarray(64 * 1024));
  const ea = await wa.commit(envelopeFields());
  assert.equal(ea.size, a.length);
  assert.equal(sha(storedMessage(spool.queueDir, ea.id)), sha(a));

  // ~5 MiB in uneven chunks (1 B .. 300 KiB) so that flushes fall at odd places.
  const total = 5 * 1024 * 1024 + 12345;
  const b = randomBytes(total);
  const wb = spool.begin(newQueueId());
  const sizes = [1, 7, 65535, 65536, 65537, 300 * 1024, 13, 4096];
  let off = 0;
  for (let i = 0; off < total; i++) {
    const n = Math.min(sizes[i % sizes.length] ?? 1, total - off);
    await wb.write(b.subarray(off, off + n));
    off += n;
    assert.equal(wb.size, off);
  }
  const eb = await wb.commit(envelopeFields());
  assert.equal(eb.size, total);
  assert.equal(storedMessage(spool.queueDir, eb.id).length, total);
  assert.equal(sha(storedMessage(spool.queueDir, eb.id)), sha(b));
  assert.deepEqual(ls(spool.tmpDir), []);
  assert.deepEqual(spool.list().map((m) => m.envelope.id).sort(), [ea.id, eb.id].sort());
});

test('several writers at once do not mix their data', async (t) => {
  const { spool } = openSpool(t);
  const bodies = Array.from({ length: 6 }, (_, i) => Buffer.alloc(100_000 + i * 7919, 0x41 + i));
  const envs = await Promise.all(
    bodies.map(async (body) => {
      const w = spool.begin(newQueueId());
      for (let off = 0; off < body.length; off += 10_000) await w.write(body.subarray(off, off + 10_000));
      return w.commit(envelopeFields());
    }),
  );
  envs.forEach((e, i) => assert.deepEqual(storedMessage(spool.queueDir, e.id), bodies[i]));
});

test('begin refuses ids that are not queue ids (path traversal, wrong alphabet, length)', (t) => {
  const { spool } = openSpool(t);
  for (const bad of ['', '../../etc/passwd', 'ABCDEFGHJKMNPQRS', '0123456789abcdei', '0123456789abcdel', '0123456789abcdeo', '0123456789abcdeu', '0123456789abcde', '0123456789abcdefg', '0123456789abcde/']) {
    assert.throws(() => spool.begin(bad), /bad queue id/, JSON.stringify(bad));
  }
  assert.equal(spool.read('../spool/x'), null);
});

test('queue ids: 16 chars of lower-case base32 without i l o u, time first, random after', () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const id = newQueueId(now);
  assert.match(id, /^[0-9a-hjkmnp-tv-z]{16}$/);
  assert.ok(QUEUE_ID.test(id));
  const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
  let decoded = 0;
  for (const ch of id.slice(0, 9)) decoded = decoded * 32 + ALPHABET.indexOf(ch);
  assert.equal(decoded, now, 'the first 9 characters encode the time in ms');
  // Sorting ids sorts by time, across a digit → letter boundary too.
  const times = [now, now + 1, now + 9, now + 10, now + 31, now + 32, now + 1000, now + 86_400_000];
  const ids = times.map((ms) => newQueueId(ms));
  assert.deepEqual([...ids].sort(), ids);
  // The random part differs between ids of the same millisecond.
  const same = new Set(Array.from({ length: 200 }, () => newQueueId(now)));
  assert.equal(same.size, 200);
  for (const s of same) assert.equal(s.slice(0, 9), id.slice(0, 9));
  // Every id uses only the alphabet.
  for (let i = 0; i < 500; i++) assert.ok(QUEUE_ID.test(newQueueId()));
});

test('list() returns messages oldest first, whatever order they were written in', async (t) => {
  const { spool } = openSpool(t);
  const base = Date.UTC(2026, 5, 1);
  const offsets = [5000, 3, 86_400_000, 0, 31, 32, 1];
  for (const o of offsets) await put(spool, Buffer.from(`offset ${o}\r\n`), newQueueId(base + o));
  const listed = spool.list();
  assert.equal(listed.length, offsets.length);
  const order = listed.map((m) => readFileSync(m.messagePath).subarray(0, m.size).toString('latin1'));
  assert.deepEqual(order, [...offsets].sort((x, y) => x - y).map((o) => `offset ${o}\r\n`));
});

test('recovery at open: tmp/ emptied, message without envelope removed, envelope without message and stray files to corrupt/', async (t) => {
  const dir = tempDir(t);
  const first = openSpool(t, dir);
  const kept = await put(first.spool, Buffer.from('kept\r\n'));
  const q = first.spool.queueDir;
  // Left behind by a crash: tmp files (and a stray directory) ...
  writeFileSync(join(first.spool.tmpDir, `${newQueueId()}.eml`), 'partial');
  writeFileSync(join(first.spool.tmpDir, `${newQueueId()}.json`), '{"ver');
  mkdirSync(join(first.spool.tmpDir, 'junkdir'));
  writeFileSync(join(first.spool.tmpDir, 'junkdir', 'f'), 'x');
  // ... a message still arriving when the daemon died (no trailer), and one of the previous layout without envelope ...
  const orphan = newQueueId();
  writeFileSync(join(q, `${orphan}.msg`), 'never committed\r\n');
  const orphanEml = newQueueId();
  writeFileSync(join(q, `${orphanEml}.eml`), 'never committed either\r\n');
  // ... an envelope whose message is gone ...
  const lonely = newQueueId();
  writeFileSync(join(q, `${lonely}.json`), JSON.stringify({ ...envelopeFields(), id: lonely, size: 5 }));
  // ... and a file that has no business there.
  writeFileSync(join(q, 'README'), 'hello');

  const { spool, log } = openSpool(t, dir);
  assert.deepEqual(ls(spool.tmpDir), [], 'tmp/ is emptied');
  assert.deepEqual(ls(q), [`${kept.id}.msg`]);
  assert.deepEqual(ls(spool.corruptDir), [`${lonely}.json`, 'README'].sort());
  assert.deepEqual(
    log.lines.filter((l) => l.event === 'spool.orphan_removed').map((l) => l.fields.id).sort(),
    [orphan, orphanEml].sort(),
  );
  const corrupt = log.lines.filter((l) => l.event === 'spool.corrupt');
  assert.deepEqual(corrupt.map((l) => l.fields.id).sort(), [lonely, 'README'].sort());
  for (const l of corrupt) {
    assert.equal(l.fields.moved_to, spool.corruptDir);
    assert.equal(typeof l.fields.reason, 'string');
  }
  assert.match(String(corrupt.find((l) => l.fields.id === lonely)?.fields.reason), /envelope without message/);
  assert.deepEqual(spool.list().map((m) => m.envelope.id), [kept.id]);
  assert.equal(storedMessage(q, kept.id).toString('latin1'), 'kept\r\n');

  // A second open finds nothing more to do.
  const again = openSpool(t, dir);
  assert.deepEqual(again.log.lines, []);
  assert.deepEqual(ls(again.spool.corruptDir), [`${lonely}.json`, 'README'].sort());
});

test('unreadable envelopes are left out by read() and list() and moved to corrupt/ at open: garbage JSON, missing fields, wrong id, wrong size', async (t) => {
  const { spool, log } = openSpool(t);
  const q = spool.queueDir;
  const good = await put(spool, Buffer.from('good\r\n'));
  const garbage = await put(spool, Buffer.from('garbage envelope\r\n'));
  writeFileSync(join(q, `${garbage.id}.json`), '{"version": 1, "id": ');
  const fields = await put(spool, Buffer.from('no recipients\r\n'));
  writeFileSync(join(q, `${fields.id}.json`), JSON.stringify({ ...fields, recipients: [] }));
  const wrongId = await put(spool, Buffer.from('wrong id\r\n'));
  writeFileSync(join(q, `${wrongId.id}.json`), JSON.stringify({ ...wrongId, id: good.id }));
  // A later envelope (<id>.json beside the file) that disagrees with the file's message size.
  const shorter = await put(spool, Buffer.from('truncated message body\r\n'));
  writeFileSync(join(q, `${shorter.id}.json`), JSON.stringify({ ...shorter, size: shorter.size + 1 }));
  const longer = await put(spool, Buffer.from('grown\r\n'));
  writeFileSync(join(q, `${longer.id}.json`), JSON.stringify({ ...longer, size: longer.size - 1 }));

  assert.equal(spool.read(garbage.id), null);
  const listed = spool.list();
  assert.deepEqual(listed.map((m) => m.envelope.id), [good.id], 'only the good message is listed');
  // Reading changes nothing: other processes read without the lock, and only open() (under it) moves files aside.
  assert.deepEqual(ls(spool.corruptDir), [], 'read() and list() move nothing');
  assert.equal(ls(q).length, 11);
  assert.equal(log.lines.length, 0, 'and log nothing');
  spool.open();

  const bad = [garbage.id, fields.id, wrongId.id, shorter.id, longer.id];
  const expected = bad.flatMap((id) => [`${id}.json`, `${id}.msg`]).sort();
  assert.deepEqual(ls(spool.corruptDir), expected, 'both files of each bad message are in corrupt/');
  assert.deepEqual(ls(q), [`${good.id}.msg`]);
  const reasons = new Map(log.lines.filter((l) => l.event === 'spool.corrupt').map((l) => [l.fields.id, String(l.fields.reason)]));
  assert.deepEqual([...reasons.keys()].sort(), [...bad].sort(), 'one log line per bad message');
  assert.match(reasons.get(garbage.id) ?? '', /not JSON/);
  assert.match(reasons.get(fields.id) ?? '', /required fields/);
  assert.match(reasons.get(wrongId.id) ?? '', /required fields/);
  assert.match(reasons.get(shorter.id) ?? '', /wrong size/);
  assert.match(reasons.get(longer.id) ?? '', /wrong size/);
  // The corrupt message's content is kept for the admin, not deleted.
  assert.equal(storedMessage(spool.corruptDir, shorter.id).toString('latin1'), 'truncated message body\r\n');
});

test('read() of an id that is not in the queue is null and moves nothing', async (t) => {
  const { spool, log } = openSpool(t);
  await put(spool, Buffer.from('x\r\n'));
  assert.equal(spool.read(newQueueId()), null);
  assert.deepEqual(ls(spool.corruptDir), []);
  assert.deepEqual(log.lines, []);
});

test('list() on a data dir whose spool was never opened is empty and creates nothing', (t) => {
  const dir = tempDir(t);
  const spool = new Spool(dir, memoryLogger());
  assert.deepEqual(spool.list(), []);
  assert.equal(existsSync(join(dir, 'spool')), false);
});

test('a message removed between list and read is absent, not corrupt (read() by another process than the deleting one)', async (t) => {
  const { spool, log } = openSpool(t);
  const env = await put(spool, Buffer.from('delivered soon\r\n'));
  // The message file goes first when a delivery removes a message; a reader can land after it.
  rmSync(join(spool.queueDir, `${env.id}.msg`));
  assert.equal(spool.read(env.id), null);
  // With a later envelope beside it, a reader can land between the two unlinks.
  const other = await put(spool, Buffer.from('another\r\n'));
  await spool.update({ ...other, held: true });
  rmSync(join(spool.queueDir, `${other.id}.msg`));
  assert.equal(spool.read(other.id), null);
  assert.deepEqual(ls(spool.corruptDir), []);
  assert.deepEqual(log.lines, []);
});

test('a stray file named like a queue id goes to corrupt/ alone; the committed message beside it stays', async (t) => {
  const dir = tempDir(t);
  const first = openSpool(t, dir);
  const env = await put(first.spool, Buffer.from('committed and readable\r\n'));
  writeFileSync(join(first.spool.queueDir, env.id), 'stray file without extension');

  const { spool, log } = openSpool(t, dir);
  assert.deepEqual(ls(spool.corruptDir), [env.id], 'only the stray file is moved aside');
  assert.deepEqual(ls(spool.queueDir), [`${env.id}.msg`], 'the committed message stays in queue/');
  assert.deepEqual(spool.list().map((m) => m.envelope.id), [env.id]);
  assert.equal(log.lines.filter((l) => l.event === 'spool.corrupt').length, 1);
});

test('rewrite: the new message goes to a new temporary file, the old one goes; a failed rewrite leaves the writer as it was', async (t) => {
  const { spool } = openSpool(t);
  const upper = (source: { chunks(): AsyncIterable<Buffer> }) =>
    (async function* () {
      for await (const c of source.chunks()) yield Buffer.from(c.toString('latin1').toUpperCase(), 'latin1');
    })();
  for (const size of [10, 300 * 1024]) {
    const id = newQueueId();
    const w = spool.begin(id);
    const msg = Buffer.concat([Buffer.from('Subject: x\r\n\r\n'), Buffer.alloc(size, 0x61)]);
    await w.write(msg);
    await w.rewrite(upper);
    assert.deepEqual(ls(spool.tmpDir), [`${id}.msg.rewrite`], 'only the new temporary file is left');
    assert.deepEqual(ls(spool.queueDir).filter((n) => n.startsWith(id)), [], 'the first file went');
    // A failed rewrite of the rewritten writer: its file goes, the writer keeps what it had.
    await assert.rejects(
      w.rewrite(() =>
        (async function* () {
          yield Buffer.alloc(100 * 1024);
          throw new Error('broken');
        })(),
      ),
      /broken/,
    );
    assert.deepEqual(ls(spool.tmpDir), [`${id}.msg.rewrite`]);
    const env = await w.commit(envelopeFields());
    const want = Buffer.from(msg.toString('latin1').toUpperCase(), 'latin1');
    assert.equal(env.size, want.length);
    assert.equal(sha(storedMessage(spool.queueDir, id)), sha(want));
    assert.deepEqual(ls(spool.queueDir).filter((n) => n.startsWith(id)), [`${id}.msg`]);
    assert.deepEqual(ls(spool.tmpDir), [], 'nothing left in tmp/');
  }
  const aborted = spool.begin(newQueueId());
  await aborted.write(Buffer.alloc(200 * 1024, 0x62));
  await aborted.rewrite(upper);
  await aborted.abort();
  assert.deepEqual(ls(spool.tmpDir), [], 'abort after a rewrite removes the new file');
  await assert.rejects(aborted.rewrite(upper), /already finished/);
});
