// src/delivery/transfer-encode.ts and src/delivery/downgrade.ts without a
// network: the quoted-printable and base64 encoders, fed in random chunkings,
// decode back to their input and keep RFC 2045's line limits; the two-pass
// down-conversion of spooled files (what it converts, what it refuses, that
// it leaves 7-bit parts alone, and that a large part streams in flat memory).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Base64Encoder, QpEncoder, type BodyEncoder } from '../../src/delivery/transfer-encode.ts';
import { downgrade, scan8Bit } from '../../src/delivery/downgrade.ts';
import { qpDecode } from './qp-decode.ts';

/** scan8Bit reads a stream (the queue store's); here, a file's. */
const scanFile = (path: string) => scan8Bit(createReadStream(path));

function run(enc: BodyEncoder, input: Buffer, random: () => number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; ) {
    const n = 1 + Math.floor(random() * 200);
    out.push(enc.push(input.subarray(i, i + n)));
    i += n;
  }
  out.push(enc.end());
  return Buffer.concat(out);
}


/** A small deterministic generator, so that a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('quoted-printable: any octets in any chunking decode back (bare LF becomes CRLF), 7-bit lines of at most 76', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = prng(seed);
    const len = Math.floor(r() * 3000);
    const alphabet = [0x20, 0x09, 0x0d, 0x0a, 0x3d, 0x2e, 0x41, 0x61, 0xc3, 0xa4, 0xff, 0x00, 0x7e];
    const input = Buffer.from(Array.from({ length: len }, () => (r() < 0.5 ? (alphabet[Math.floor(r() * alphabet.length)] as number) : Math.floor(r() * 256))));
    const out = run(new QpEncoder(), input, r);
    const text = out.toString('latin1');
    assert.ok(!/[^\x09\x0d\x0a\x20-\x7e]/.test(text), `seed ${seed}: only printable ASCII, tab and CRLF`);
    assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(text), `seed ${seed}: no bare CR or LF in the output`);
    for (const line of text.split('\r\n')) {
      assert.ok(line.length <= 76, `seed ${seed}: a line of ${line.length}`);
      assert.ok(!/[ \t]$/.test(line), `seed ${seed}: no space or tab at the end of a line`);
    }
    // Line breaks of the input become CRLF; every other octet comes back as it was.
    const expected = Buffer.from(input.toString('latin1').replace(/\r\n|\n/g, '\r\n'), 'latin1');
    assert.deepEqual(qpDecode(text), expected, `seed ${seed}`);
  }
});

test('quoted-printable: "=" and trailing whitespace are encoded, the rest of a text line stays readable', () => {
  const out = run(new QpEncoder(), Buffer.from('a = b \r\nschön\t\r\n.dot\r\n'), () => 0.99).toString('latin1');
  assert.equal(out, 'a =3D b=20\r\nsch=C3=B6n=09\r\n.dot\r\n');
});

test('base64: any octets in any chunking decode back; lines of 76; a final line break ends the text, not the content', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = prng(seed);
    const input = Buffer.from(Array.from({ length: Math.floor(r() * 5000) }, () => Math.floor(r() * 256)));
    const out = run(new Base64Encoder(), input, r).toString('latin1');
    const lines = out.split('\r\n');
    assert.ok(lines.slice(0, -1).every((l) => l.length === 76), `seed ${seed}: full lines of 76`);
    assert.ok((lines.at(-1) ?? '').length <= 76);
    assert.deepEqual(Buffer.from(out.replace(/\r\n/g, ''), 'base64'), input, `seed ${seed}`);
  }
  const withBreak = run(new Base64Encoder(), Buffer.from('\xff\xfe\r\n', 'latin1'), () => 0.5).toString('latin1');
  assert.equal(withBreak, '//4=\r\n', 'the body\'s final CRLF is kept as a line break, not encoded');
});

// ------------------------------------------------------------ the two passes

function tempFile(t: { after(fn: () => void): void }, name: string, data: Buffer | string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-dg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

async function converted(path: string): Promise<string> {
  const scan = await scanFile(path);
  assert.ok(scan.body8Bit && !scan.headers8Bit && scan.unconvertible === null, `expected a convertible 8-bit message: ${JSON.stringify(scan)}`);
  const chunks: Buffer[] = [];
  for await (const c of downgrade(createReadStream(path), scan.parts)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

const crlf = (s: string) => s.replace(/\n/g, '\r\n');

test('scan8Bit: 7-bit only is left alone; 8-bit headers are noted; preambles and opaque message/* parts cannot be converted', async (t) => {
  const seven = await scanFile(tempFile(t, 'a.eml', crlf('Subject: x\nContent-Transfer-Encoding: 8bit\n\nascii\n')));
  assert.deepEqual({ ...seven, parts: [...seven.parts] }, { headers8Bit: false, body8Bit: false, parts: [], unconvertible: null });
  const header = await scanFile(tempFile(t, 'b.eml', Buffer.from(crlf('Subject: Grüße\n\nascii\n'))));
  assert.equal(header.headers8Bit, true);
  assert.equal(header.body8Bit, false);
  const ours = await scanFile(tempFile(t, 'r.eml', Buffer.from(crlf('Received: from a by b\n\tfor <kai@bücher.example>; Thu, 3 Dec 2026 23:00:00 +0000\nSubject: x\n\nascii\n'))));
  assert.equal(ours.headers8Bit, false, 'our own Received (the first field of the spool file) is not the sender\'s header');
  const second = await scanFile(tempFile(t, 's.eml', Buffer.from(crlf('Received: from a by b; Thu, 3 Dec 2026 23:00:00 +0000\nReceived: from ü by b; Thu, 3 Dec 2026 22:00:00 +0000\nSubject: x\n\nascii\n'))));
  assert.equal(second.headers8Bit, true, 'only the first field is ours');
  const nestedHeader = await scanFile(tempFile(t, 'c.eml', Buffer.from(crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name="ä.txt"\n\nx\n--b--\n'))));
  assert.equal(nestedHeader.headers8Bit, true, "a part's header too");
  const preamble = await scanFile(tempFile(t, 'd.eml', Buffer.from(crlf('Content-Type: multipart/mixed; boundary=b\n\npréambule\n--b\n\nx\n--b--\n'))));
  assert.match(preamble.unconvertible ?? '', /preamble/);
  const attached = await scanFile(
    tempFile(t, 'e.eml', Buffer.from(crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\nSubject: inner\n\nInhalt: ü\n--b--\n'))),
  );
  assert.match(attached.unconvertible ?? '', /message\/rfc822/, 'an attached message/rfc822 may not be re-encoded');
  const labelled = await scanFile(tempFile(t, 'f.eml', Buffer.from(crlf('Content-Transfer-Encoding: quoted-printable\n\nraw ü\n'))));
  assert.match(labelled.unconvertible ?? '', /quoted-printable/);
});

test('downgrade: an inline message/rfc822 is opened, its 8-bit part converted and the container relabelled 7bit', async (t) => {
  const out = await converted(
    tempFile(t, 'g.eml', Buffer.from(crlf('MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\nSubject: inner\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nInhalt: ü\n--b--\n'))),
  );
  assert.match(out, /Content-Type: message\/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n/);
  assert.match(out, /Content-Transfer-Encoding: quoted-printable\r\n\r\nInhalt: =C3=BC\r\n--b--/);
  assert.ok(!/[\x80-\xff]/.test(out));
});

test('downgrade: a single-part message without a Content-Transfer-Encoding gets one', async (t) => {
  const out = await converted(tempFile(t, 'h.eml', Buffer.from(crlf('Subject: x\nContent-Type: text/plain; charset=utf-8\n\nü\n'))));
  assert.equal(out, crlf('Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n=C3=BC\n'));
});

test('downgrade: a 20 MB 8-bit part streams through in flat memory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-dg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'big.eml');
  const w = createWriteStream(path);
  w.write(crlf('Subject: big\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: 8bit\n\n'));
  const line = Buffer.from('\xe4'.repeat(76) + '\r\n', 'latin1');
  for (let i = 0; i < 20 * 1024 * 1024 / line.length; i++) w.write(line);
  await new Promise<void>((done) => w.end(done));
  const scan = await scanFile(path);
  assert.ok(scan.body8Bit && scan.unconvertible === null);
  const before = process.memoryUsage().rss;
  let peak = before;
  let bytes = 0;
  for await (const c of downgrade(createReadStream(path), scan.parts)) {
    bytes += (c as Buffer).length;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  assert.ok(bytes > 26 * 1024 * 1024, `base64 of 20 MB is over 26 MB (${bytes})`);
  assert.ok(peak - before < 15 * 1024 * 1024, `memory grew by ${Math.round((peak - before) / 1048576)} MB`);
});
