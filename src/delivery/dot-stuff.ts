// Dot-stuffing of outgoing messages, faster. nodemailer's DataStream (10.6.1)
// looks at every byte of the message in JavaScript to stuff leading dots and
// turn bare CR or LF into CRLF; for a 100 KiB message that loop was an eighth
// of the relay's CPU (bench/, one session). The same rules are applied here
// only where they can apply: at the start of a chunk, at each LF, and right
// after each CR or LF, found with Buffer#indexOf (native). The output is the
// library's, byte for byte, for any input and any chunking
// (test/delivery/dot-stuff.test.ts compares the two on random input).

import { createRequire } from 'node:module';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream.js';

const PINNED = '10.6.1';
const version = (createRequire(import.meta.url)('nodemailer/package.json') as { version: string }).version;
if (version !== PINNED) throw new Error(`mailwarden's dot-stuffing patch is written for nodemailer ${PINNED}, found ${version}; review src/delivery/dot-stuff.ts`);

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const INSERT_LF = Buffer.from('\n');
const INSERT_LF_DOT = Buffer.from('\n.');
const INSERT_CR = Buffer.from('\r');
const INSERT_DOT = Buffer.from('.');

/**
 * One chunk, stuffed. `lastByte` is the previous chunk's last byte (false at
 * the start of the message). Returns the chunk itself when nothing changes.
 */
export function stuffChunk(chunk: Buffer, lastByte: number | false): Buffer {
  const len = chunk.length;
  if (len === 0) return chunk;
  let pieces: Buffer[] | null = null;
  let total = 0;
  let lastPos = 0;
  let checked = -1;
  const check = (i: number): void => {
    if (i <= checked || i >= len) return;
    checked = i;
    const byte = chunk[i];
    const prev = i > 0 ? chunk[i - 1] : lastByte;
    let insert: Buffer | null = null;
    if (prev === CR && byte !== LF) insert = byte === DOT ? INSERT_LF_DOT : INSERT_LF;
    else if (byte === LF && prev !== CR) insert = INSERT_CR;
    else if (byte === DOT && (prev === LF || prev === false)) insert = INSERT_DOT;
    if (insert === null) return;
    pieces ??= [];
    if (i > lastPos) {
      pieces.push(chunk.subarray(lastPos, i));
      total += i - lastPos;
    }
    pieces.push(insert);
    total += insert.length;
    lastPos = i;
  };
  check(0);
  // Every other position where a rule can fire: an LF, or the byte after a CR or an LF.
  let cr = chunk.indexOf(CR);
  let lf = chunk.indexOf(LF);
  while (cr !== -1 || lf !== -1) {
    if (lf !== -1 && (cr === -1 || lf < cr)) {
      check(lf);
      check(lf + 1);
      lf = chunk.indexOf(LF, lf + 1);
    } else {
      check(cr + 1);
      cr = chunk.indexOf(CR, cr + 1);
    }
  }
  if (pieces === null) return chunk;
  const out: Buffer[] = pieces;
  if (lastPos < len) {
    out.push(chunk.subarray(lastPos));
    total += len - lastPos;
  }
  return Buffer.concat(out, total);
}

interface DataStreamInternals {
  inByteCount: number;
  outByteCount: number;
  lastByte: number | false;
  push(chunk: Buffer): boolean;
}

type Transform = (this: DataStreamInternals, chunk: Buffer | string, encoding: BufferEncoding, done: () => void) => void;

const proto = DataStream.prototype as unknown as { _transform: Transform };
/** The library's own, kept for the comparison test. */
export const libraryTransform: Transform = proto._transform;

proto._transform = function _transform(this: DataStreamInternals, chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
  if (!chunk || chunk.length === 0) return done();
  const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  this.inByteCount += buf.length;
  const out = stuffChunk(buf, this.lastByte);
  this.outByteCount += out.length;
  this.push(out);
  this.lastByte = buf[buf.length - 1] as number;
  done();
};

export { DataStream };
