// The faster dot-stuffing (src/delivery/dot-stuff.ts) gives nodemailer's
// output byte for byte: random messages made of the bytes that matter (CR,
// LF, dots) and others, cut into random chunks, through a DataStream with the
// library's transform and with ours.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataStream, libraryTransform, stuffChunk } from '../../src/delivery/dot-stuff.ts';

type TransformFn = typeof libraryTransform;

async function through(chunks: Buffer[], transform?: TransformFn): Promise<{ out: Buffer; inBytes: number; outBytes: number }> {
  const ds = new DataStream() as unknown as NodeJS.ReadWriteStream & { _transform: TransformFn; inByteCount: number; outByteCount: number };
  if (transform) ds._transform = transform;
  const parts: Buffer[] = [];
  ds.on('data', (b: Buffer) => parts.push(b));
  const ended = new Promise<void>((done) => ds.on('end', () => done()));
  for (const c of chunks) ds.write(c);
  ds.end();
  await ended;
  return { out: Buffer.concat(parts), inBytes: ds.inByteCount, outBytes: ds.outByteCount };
}

/** A small deterministic generator, so that a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const ALPHABET = [0x0d, 0x0a, 0x2e, 0x2e, 0x41, 0x20, 0x0d, 0x0a];

function randomMessage(r: () => number): Buffer[] {
  const len = Math.floor(r() * 200);
  const bytes = Buffer.alloc(len);
  for (let i = 0; i < len; i++) bytes[i] = r() < 0.85 ? (ALPHABET[Math.floor(r() * ALPHABET.length)] as number) : Math.floor(r() * 256);
  const chunks: Buffer[] = [];
  for (let at = 0; at < len; ) {
    const n = 1 + Math.floor(r() * 12);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

test('same bytes and counts as the library for 3,000 random messages in random chunks', async () => {
  for (let seed = 1; seed <= 3000; seed++) {
    const chunks = randomMessage(rng(seed));
    const lib = await through(chunks, libraryTransform);
    const ours = await through(chunks);
    assert.deepEqual(ours.out, lib.out, `seed ${seed}: ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`);
    assert.equal(ours.inBytes, lib.inBytes, `seed ${seed}`);
    assert.equal(ours.outBytes, lib.outBytes, `seed ${seed}`);
  }
});

test('the cases that matter, spelled out', async () => {
  const cases: [string, string][] = [
    ['.a\r\n', '..a\r\n.\r\n'],
    ['a\r\n.b\r\n', 'a\r\n..b\r\n.\r\n'],
    ['a\n.\n', 'a\r\n..\r\n.\r\n'], // bare LF: CRLF, and the dot after it stuffed
    ['a\r.\rb', 'a\r\n..\r\nb\r\n.\r\n'], // bare CR: CRLF, the dot after it stuffed (smuggling)
    ['a\r\n\r\n', 'a\r\n\r\n.\r\n'],
    ['abc', 'abc\r\n.\r\n'],
  ];
  for (const [input, expected] of cases) {
    // whole, and byte by byte (every boundary between chunks)
    for (const chunks of [[Buffer.from(input)], [...Buffer.from(input)].map((b) => Buffer.from([b]))]) {
      assert.equal((await through(chunks)).out.toString('latin1'), expected, JSON.stringify(input));
    }
  }
});

test('a chunk with nothing to change is passed on as it is (no copy)', () => {
  const clean = Buffer.from('Subject: x\r\n\r\nline one\r\nline two\r\n');
  assert.equal(stuffChunk(clean, false), clean);
  assert.equal(stuffChunk(Buffer.from('.x\r\n'), false).toString(), '..x\r\n');
  assert.equal(stuffChunk(Buffer.from('.x\r\n'), 0x41).toString(), '.x\r\n');
});
