// The spool file's trailer (src/queue/spool-trailer.ts, spool-file.ts): what
// a committed file looks like, and that a file cut anywhere, a flipped bit in
// the envelope, the footer or the message, garbage, or a file of the previous
// layout is never taken for a committed message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { encodeTrailer, FOOTER_SIZE, parseFooter, parseTrailerJson } from '../../src/queue/spool-trailer.ts';
import { readSpoolFile } from '../../src/queue/spool-file.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { envelopeFields } from '../support/envelope.ts';

const message = Buffer.from('Received: from x by y; Sat, 5 Dec 2026 00:00:00 +0000\r\nSubject: hi\r\n\r\nbody\r\n');
const envelope: Envelope = { ...envelopeFields(), id: '1m8gg9k6zt2pwbfr', size: message.length };
const file = Buffer.concat([message, encodeTrailer(envelope, message.length, crc32(message))]);

function dir(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'mailwarden-trailer-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('a whole file: footer and envelope read back, the message is octets [0, size)', (t) => {
  const f = parseFooter(file.subarray(-FOOTER_SIZE), file.length);
  assert.ok(f.ok);
  assert.equal(f.footer.messageSize, message.length);
  assert.equal(f.footer.messageCrc, crc32(message));
  assert.equal(file.subarray(message.length, message.length + f.footer.jsonLength).toString().trimEnd(), JSON.stringify(envelope, null, 1), 'the envelope is readable JSON right after the message');
  const json = parseTrailerJson(file.subarray(message.length, message.length + f.footer.jsonLength), f.footer);
  assert.ok(json.ok);
  assert.deepEqual(json.value, envelope);
  assert.equal(file.subarray(-FOOTER_SIZE, -FOOTER_SIZE + 8).toString('latin1'), 'MWSPOOL1');
  const path = join(dir(t), 'm.msg');
  writeFileSync(path, file);
  const r = readSpoolFile(path, { verifyMessage: true });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.envelope, envelope);
});

test('a file cut at any length is not a committed message', (t) => {
  const path = join(dir(t), 'm.msg');
  for (let len = 0; len < file.length; len++) {
    writeFileSync(path, file.subarray(0, len));
    const r = readSpoolFile(path);
    assert.equal(r.ok, false, `cut at ${len} of ${file.length}`);
  }
  // And one that grew past its footer (data after it) neither.
  writeFileSync(path, Buffer.concat([file, Buffer.from('x')]));
  assert.equal(readSpoolFile(path).ok, false);
});

test('a flipped bit in the footer or the envelope is caught; in the message, by the check recovery makes', (t) => {
  const path = join(dir(t), 'm.msg');
  for (let i = 0; i < file.length; i++) {
    const bad = Buffer.from(file);
    bad[i] = (bad[i] as number) ^ 0x04;
    writeFileSync(path, bad);
    const verified = readSpoolFile(path, { verifyMessage: true });
    assert.equal(verified.ok, false, `flipped bit at ${i} (recovery's check)`);
    if (i >= message.length) assert.equal(readSpoolFile(path).ok, false, `flipped bit at ${i} in the trailer`);
  }
  const bad = Buffer.from(file);
  bad[message.length + 3] = 0x5a;
  writeFileSync(path, bad);
  const r = readSpoolFile(path);
  assert.ok(!r.ok && /checksum/.test(r.reason), JSON.stringify(r));
});

test('garbage, an empty file, a file of the previous layout, an absent file: no footer, and a reason', (t) => {
  const d = dir(t);
  const cases: [string, Buffer][] = [
    ['garbage', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff))],
    ['empty', Buffer.alloc(0)],
    ['previous layout (.eml: the message alone)', message],
    ['magic without the rest', Buffer.concat([message, Buffer.from('MWSPOOL1')])],
  ];
  for (const [name, data] of cases) {
    const path = join(d, 'x.msg');
    writeFileSync(path, data);
    const r = readSpoolFile(path);
    assert.ok(!r.ok && !r.absent && r.reason.length > 0, `${name}: ${JSON.stringify(r)}`);
  }
  const absent = readSpoolFile(join(d, 'none.msg'));
  assert.ok(!absent.ok && absent.absent);
});

test('a footer whose sizes do not add up to the file, or claim an absurd envelope, is refused before anything is read', () => {
  const tail = Buffer.from(file.subarray(-FOOTER_SIZE));
  assert.ok(!parseFooter(tail, file.length + 1).ok, 'size mismatch');
  const huge = Buffer.from(tail);
  huge.writeUInt32BE(0xffffffff, 16);
  huge.writeUInt32BE(crc32(huge.subarray(0, 28)), 28);
  const r = parseFooter(huge, file.length);
  assert.ok(!r.ok && /range/.test(r.reason), JSON.stringify(r));
  assert.ok(!parseFooter(tail.subarray(1), file.length).ok, 'short tail');
});
