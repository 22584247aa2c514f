// Streaming content transfer encoders (RFC 2045 §6.7 quoted-printable, §6.8
// base64) for the 8BITMIME down-conversion: each takes the body of a part
// chunk by chunk and keeps only a few bytes of state, so a part of any size
// is encoded in constant memory. Pure.

const CRLF = Buffer.from('\r\n');
const HEX = '0123456789ABCDEF';

// mailsplit hands over a part's body without the line break before the next
// boundary (that one belongs to the boundary, RFC 2046 §5.1.1); the last
// part of a message that is not multipart keeps its final line break. So an
// encoder ends its output with a line break only when its input did.

export interface BodyEncoder {
  /** The encoded form of `chunk` (possibly empty: a few bytes may wait for the next chunk). */
  push(chunk: Buffer): Buffer;
  /** Whatever was held back. */
  end(): Buffer;
}

/**
 * Quoted-printable. Line breaks of the input (CRLF, or a bare LF) stay hard
 * line breaks (CRLF); a bare CR is encoded; space and tab are literal except
 * before a line break; "=" and every byte outside 33..126 are =XX; output
 * lines are at most 76 characters, soft breaks never splitting an =XX.
 */
export class QpEncoder implements BodyEncoder {
  private col = 0;
  /** A space or tab whose fate (literal, or =20/=09 before a line break) waits on the next byte. */
  private ws = -1;
  /** A CR waiting to see whether an LF follows. */
  private cr = false;
  private out: Buffer = Buffer.alloc(0);
  private n = 0;

  private put(byte: number): void {
    this.out[this.n++] = byte;
  }

  /** One encoded unit (a byte, or =XX), after a soft break when the line would pass 76. */
  private unit(byte: number, encoded: boolean): void {
    const width = encoded ? 3 : 1;
    if (this.col + width > 75) {
      this.put(0x3d);
      this.put(0x0d);
      this.put(0x0a);
      this.col = 0;
    }
    if (encoded) {
      this.put(0x3d);
      this.put(HEX.charCodeAt(byte >> 4));
      this.put(HEX.charCodeAt(byte & 15));
    } else {
      this.put(byte);
    }
    this.col += width;
  }

  private flushWs(encoded: boolean): void {
    if (this.ws < 0) return;
    const ws = this.ws;
    this.ws = -1;
    this.unit(ws, encoded);
  }

  private hardBreak(): void {
    this.flushWs(true);
    this.put(0x0d);
    this.put(0x0a);
    this.col = 0;
  }

  private byte(b: number): void {
    if (this.cr) {
      this.cr = false;
      if (b === 0x0a) return this.hardBreak();
      this.flushWs(false);
      this.unit(0x0d, true);
    }
    if (b === 0x0d) {
      this.cr = true;
      return;
    }
    if (b === 0x0a) return this.hardBreak();
    this.flushWs(false);
    if (b === 0x20 || b === 0x09) {
      this.ws = b;
      return;
    }
    this.unit(b, b < 33 || b > 126 || b === 0x3d);
  }

  private room(len: number): void {
    // At most 3 octets per input octet, plus a soft break every 25 units, plus what is held back.
    const need = len * 3 + Math.ceil(len / 24) * 3 + 16;
    if (this.out.length < need) this.out = Buffer.allocUnsafe(need);
    this.n = 0;
  }

  push(chunk: Buffer): Buffer {
    this.room(chunk.length);
    for (let i = 0; i < chunk.length; i++) this.byte(chunk[i] as number);
    return Buffer.from(this.out.subarray(0, this.n));
  }

  end(): Buffer {
    this.room(4);
    if (this.cr) {
      this.cr = false;
      this.flushWs(false);
      this.unit(0x0d, true);
    }
    this.flushWs(true);
    return Buffer.from(this.out.subarray(0, this.n));
  }
}

/**
 * Base64 in lines of 76 characters. A line break that ends the body (only
 * the last part of a message that is not multipart has one) is the end of
 * the text, not content: it is held back, not encoded, and ends the output.
 */
export class Base64Encoder implements BodyEncoder {
  private held: Buffer = Buffer.alloc(0);
  private started = false;

  push(chunk: Buffer): Buffer {
    const all = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    // Keep two bytes back (a possible final CRLF), and whole 57-octet groups only.
    const usable = Math.max(0, all.length - 2);
    const take = usable - (usable % 57);
    this.held = Buffer.from(all.subarray(take));
    return this.lines(all.subarray(0, take));
  }

  end(): Buffer {
    let rest = this.held;
    this.held = Buffer.alloc(0);
    const lf = rest.length > 0 && rest[rest.length - 1] === 0x0a;
    if (lf) rest = rest.subarray(0, rest.length - (rest.length > 1 && rest[rest.length - 2] === 0x0d ? 2 : 1));
    const out = this.lines(rest);
    return lf ? Buffer.concat([out, CRLF]) : out;
  }

  /** Lines separated (not ended) by CRLF, continuing the output so far. */
  private lines(data: Buffer): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i < data.length; i += 57) {
      if (this.started) parts.push(CRLF);
      this.started = true;
      parts.push(Buffer.from(data.subarray(i, i + 57).toString('base64')));
    }
    return Buffer.concat(parts);
  }
}
