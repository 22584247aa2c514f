// What leaves us never carries a bare CR or LF, nor a line over 998 octets
// (RFC 5322 2.1.1). Stored messages are already CRLF-clean (the DataGuard
// refuses anything else), so this mostly folds long lines: in the header
// section with CRLF and a space (the continuation stays part of the header),
// in the body with a plain CRLF. A lone CR or LF, should one ever get here,
// becomes CRLF. Streams chunk by chunk in constant memory; the common case
// (no long line) copies nothing.

import { Transform, type TransformCallback } from 'node:stream';
import { streamedBytes } from '../core/memory.ts';

export const MAX_LINE = 998;
const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');
const CRLF_SP = Buffer.from('\r\n ');

export class LineLimit extends Transform {
  /** Octets on the current output line, CRLF not counted. */
  private lineLen = 0;
  private inHeaders = true;
  private pendingCR = false;

  override _transform(input: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    streamedBytes(input.length);
    const out = this.convert(input);
    if (out.length) this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.pendingCR) this.push(CRLF);
    this.pendingCR = false;
    done();
  }

  /** A whole message at once (what the stream would produce for it). */
  static whole(message: Buffer): Buffer {
    const l = new LineLimit();
    const out = l.convert(message);
    return l.pendingCR ? Buffer.concat([out, CRLF]) : out;
  }

  /** Exposed for tests: converts one chunk, keeping state across calls. */
  convert(input: Buffer): Buffer {
    const chunk = this.pendingCR ? Buffer.concat([Buffer.from([CR]), input]) : input;
    this.pendingCR = false;
    const parts: Buffer[] = [];
    let start = 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      let cr = chunk.indexOf(CR, i);
      let lf = chunk.indexOf(LF, i);
      if (cr < 0) cr = n;
      if (lf < 0) lf = n;
      const next = Math.min(cr, lf);
      // Content octets [i, next): fold where the line would pass MAX_LINE.
      while (this.lineLen + (next - i) > MAX_LINE) {
        const take = MAX_LINE - this.lineLen;
        parts.push(chunk.subarray(start, i + take), this.inHeaders ? CRLF_SP : CRLF);
        i += take;
        start = i;
        this.lineLen = this.inHeaders ? 1 : 0;
      }
      this.lineLen += next - i;
      i = next;
      if (i >= n) break;
      if (chunk[i] === CR) {
        if (i + 1 >= n) {
          // A CR at the end of the chunk: wait for the next byte.
          parts.push(chunk.subarray(start, i));
          this.pendingCR = true;
          start = n;
          i = n;
          break;
        }
        if (chunk[i + 1] === LF) {
          i += 2;
        } else {
          parts.push(chunk.subarray(start, i), CRLF);
          i += 1;
          start = i;
        }
      } else {
        parts.push(chunk.subarray(start, i), CRLF);
        i += 1;
        start = i;
      }
      this.endLine();
    }
    if (start < n) parts.push(chunk.subarray(start, n));
    if (parts.length === 1) return parts[0] as Buffer;
    return Buffer.concat(parts);
  }

  private endLine(): void {
    if (this.lineLen === 0) this.inHeaders = false;
    this.lineLen = 0;
  }
}
