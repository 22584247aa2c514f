// What the scanners need from the spool (src/queue/spool.ts): the message
// read back whole after DATA, header edits made before commit (in memory
// for small messages, by copying for large ones, byte-exact after the
// header), commits into quarantine/, release into the queue, and recovery
// of an interrupted quarantine or release.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../../src/queue/spool.ts';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { Quarantine } from '../../src/queue/quarantine.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { storedMessage } from '../support/spool-files.ts';

function openSpool(t: { after: (fn: () => void) => void }): { spool: Spool; dir: string; log: ReturnType<typeof memoryLogger> } {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-scan-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = memoryLogger();
  const spool = new Spool(dir, log);
  spool.open();
  return { spool, dir, log };
}

const fields = (over: Partial<Envelope> = {}): Omit<Envelope, 'size' | 'id'> => ({
  version: 1,
  received_at: '2026-01-02T03:04:05.000Z',
  sender: 'a@example.net',
  recipients: [{ address: 'b@example.org', kind: 'inbound', rule: 'rule 5', status: 'queued' }],
  client: { address: '127.0.0.9', helo: 'client.example', user: null, tls: false, listener: 'mx' },
  relayed: false,
  revision: 1,
  body: '7bit',
  smtputf8: false,
  ...over,
});

const HEAD = 'Received: from x\r\nX-Spam-Flag: YES\r\nSubject: offer\r\n\r\n';
const edit = { add: ['X-Spam-Status: Yes, score=7.0', 'X-Spam-Flag: YES'], remove: ['X-Spam-Flag', 'X-Spam-Status'], subjectTag: '[SPAM]' };
const EDITED_HEAD = 'X-Spam-Status: Yes, score=7.0\r\nX-Spam-Flag: YES\r\nReceived: from x\r\nSubject: [SPAM] offer\r\n\r\n';

async function chunks(src: { chunks(): AsyncIterable<Buffer> }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src.chunks()) parts.push(c);
  return Buffer.concat(parts);
}

for (const [label, bodySize] of [
  ['small (still in memory)', 1000],
  ['large (already in its file: copied)', 3 * 1024 * 1024 + 17],
] as const) {
  test(`header edit before commit, ${label}: new header section, body byte-exact, size right`, async (t) => {
    const { spool } = openSpool(t);
    const body = randomBytes(bodySize);
    const id = newQueueId();
    const w = spool.begin(id);
    await w.write(Buffer.from(HEAD));
    for (let i = 0; i < body.length; i += 70_000) await w.write(body.subarray(i, i + 70_000));
    const whole = await w.contents();
    assert.equal(whole.size, HEAD.length + body.length);
    assert.ok((await chunks(whole)).equals(Buffer.concat([Buffer.from(HEAD), body])), 'contents() is the message as written');
    const env = await w.commit(fields(), { edit });
    const stored = storedMessage(spool.queueDir, id);
    assert.equal(stored.subarray(0, EDITED_HEAD.length).toString('latin1'), EDITED_HEAD);
    assert.ok(stored.subarray(EDITED_HEAD.length).equals(body));
    assert.equal(env.size, stored.length);
    assert.deepEqual(readdirSync(spool.tmpDir), [], 'no temporary file left');
    assert.ok(spool.read(id), 'the envelope reads back (size matches)');
  });
}

test('quarantine: commit into quarantine/, invisible to the queue, release moves it in with its history', async (t) => {
  const { spool, dir } = openSpool(t);
  const id = newQueueId();
  const w = spool.begin(id);
  await w.write(Buffer.from(HEAD + 'body\r\n'));
  await w.commit({ ...fields(), quarantine: { at: '2026-01-02T03:04:05.000Z', rule: 'antivirus.action', reason: 'malware found: X' } }, { area: 'quarantine' });
  assert.deepEqual(spool.list(), []);
  const store = new FileQueueStore(dir, memoryLogger());
  await store.open();
  t.after(() => store.close());
  let announced = 0;
  store.onWork(() => announced++);
  const q = new Quarantine(store);
  assert.deepEqual((await q.list()).map((e) => e.id), [id]);
  assert.equal((await q.read(id))?.quarantine?.reason, 'malware found: X');
  assert.equal((await (await q.body(id))?.whole())?.toString('latin1'), HEAD + 'body\r\n');
  assert.equal(await store.nextDue(), null, 'quarantined mail is never due');
  const released = await q.release(id);
  assert.equal(released.quarantine, undefined);
  assert.match(released.history?.at(-1)?.detail ?? '', /was: malware found: X/);
  assert.equal(announced, 1, 'the release announces new work to the scheduler');
  assert.equal(await store.nextDue(), 0, 'and the released message is due at once');
  assert.deepEqual(await q.list(), []);
  const queued = spool.read(id);
  assert.ok(queued);
  assert.equal(queued.envelope.quarantine, undefined);
  assert.equal(storedMessage(spool.queueDir, id).toString('latin1'), HEAD + 'body\r\n');
  await assert.rejects(q.delete(id), /no message .* in quarantine/);
  await assert.rejects(q.release(id), /no message .* in quarantine/);
});

test('quarantine delete removes both files; recovery cleans an interrupted quarantine, and an interrupted release on either side of its commit', async (t) => {
  const { spool, dir } = openSpool(t);
  const q = new Quarantine(new FileQueueStore(dir, memoryLogger()));
  const put = async () => {
    const id = newQueueId();
    const w = spool.begin(id);
    await w.write(Buffer.from('Subject: x\r\n\r\ny\r\n'));
    await w.commit(fields(), { area: 'quarantine' });
    return id;
  };
  const gone = await put();
  await q.delete(gone);
  assert.deepEqual(readdirSync(spool.quarantineDir), []);
  // A message file whose trailer never landed (crash during commit): removed at open.
  writeFileSync(join(spool.quarantineDir, `${newQueueId()}.msg`), 'x');
  // A release cut off after the hard link, before the queue's envelope: the message stays in quarantine.
  const early = await put();
  linkSync(join(spool.quarantineDir, `${early}.msg`), join(spool.queueDir, `${early}.msg`));
  // A release cut off after the queue's envelope (the commit), before the quarantine's files went.
  const late = await put();
  const m = (await q.read(late))!;
  const { quarantine: _, ...env } = m;
  await spool.update(env as Envelope);
  linkSync(join(spool.quarantineDir, `${late}.msg`), join(spool.queueDir, `${late}.msg`));
  const log = memoryLogger();
  const again = new Spool(dir, log);
  again.open();
  assert.deepEqual(again.list('quarantine').map((x) => x.envelope.id), [early], 'the uncommitted release is still in quarantine');
  assert.equal(again.read(early), null, 'and not in the queue');
  assert.ok(again.read(late), 'the committed release is in the queue');
  assert.deepEqual(readdirSync(again.quarantineDir).sort(), [`${early}.msg`]);
  assert.deepEqual(log.lines.map((l) => [l.event, l.fields.area ?? null, l.fields.id]).sort(), [
    ['spool.orphan_removed', 'queue', early],
    ['spool.orphan_removed', 'quarantine', log.lines.find((l) => l.event === 'spool.orphan_removed' && l.fields.area === 'quarantine')?.fields.id],
    ['spool.release_completed', null, late],
  ].sort());
});
