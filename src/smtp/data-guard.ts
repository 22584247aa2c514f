// Watches the DATA stream as it passes, chunk by chunk, in constant memory:
// its size, bare CR or LF and NUL anywhere (SMTP smuggling: a lone "\n.\n"
// that another hop might read as the end of data), and how many Received
// headers the header section carries (a mail loop). Pure: no I/O.
//
// For clients we trust with it (limits.bare_newline: normalize), a bare LF
// is not refused but made a CRLF before anything else looks at the data, as
// Postfix's smtpd_forbid_bare_newline = normalize does for sloppy internal
// applications. This changes only what we store: smtp-server has already
// decided where DATA ends, and only "\r\n.\r\n" ends it, so "\n.\n",
// "\r\n.\n" and "\n.\r\n" stay message text (a line holding one dot,
// which delivery dot-stuffs like any other). A bare CR is refused in every
// mode: no Unix application ends lines with it, and "\r.\r" is a smuggling
// form, not a line end worth guessing at.

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const RECEIVED = Buffer.from('received:');
const CR_BYTE = Buffer.from([CR]);

export type DataProblem = 'too_big' | 'bare_cr' | 'bare_lf' | 'nul' | 'loop';

/** What a bare LF gets: refused (550 5.5.2), or made a CRLF. */
export type BareLfMode = 'reject' | 'normalize';

export class DataGuard {
  readonly maxBytes: number;
  readonly maxReceived: number;
  readonly bareLf: BareLfMode;
  /** Octets the client sent (limits.max_message_size counts these, not what normalising adds). */
  bytes = 0;
  received = 0;
  /** Bare LFs made CRLF so far. */
  normalized = 0;
  /** The first problem seen; the rest of the data is only counted. */
  problem: DataProblem | null = null;
  private prev = -1;
  private inHeaders = true;
  /** Bytes of the current line while it may still start with "Received:". */
  private lineStart: number[] = [];
  private lineLen = 0;

  constructor(maxBytes: number, maxReceived: number, bareLf: BareLfMode = 'reject') {
    this.maxBytes = maxBytes;
    this.maxReceived = maxReceived;
    this.bareLf = bareLf;
  }

  /**
   * Looks at one chunk; returns what to store (the chunk itself, or a copy
   * with a CR before each bare LF when normalising), or null once the message
   * must be refused.
   */
  feed(chunk: Buffer): Buffer | null {
    this.bytes += chunk.length;
    if (this.problem === null && this.bytes > this.maxBytes) this.problem = 'too_big';
    if (this.problem !== null) return null;
    const out = this.bareLf === 'normalize' ? this.normalize(chunk) : chunk;
    return this.check(out) ? out : null;
  }

  /**
   * A CR before every LF that has none. The byte before a chunk's first LF
   * is the previous chunk's last one (`prev`): the last byte out is always
   * the last byte in, since only CRs are inserted, and only before an LF.
   */
  private normalize(chunk: Buffer): Buffer {
    let at = chunk.indexOf(LF);
    if (at < 0) return chunk;
    const parts: Buffer[] = [];
    let from = 0;
    for (; at >= 0; at = chunk.indexOf(LF, at + 1)) {
      const before = at === 0 ? this.prev : (chunk[at - 1] as number);
      if (before === CR) continue;
      parts.push(chunk.subarray(from, at), CR_BYTE);
      from = at;
      this.normalized++;
    }
    if (parts.length === 0) return chunk;
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }

  private check(chunk: Buffer): boolean {
    if (!this.inHeaders) return this.body(chunk);
    for (let i = 0; i < chunk.length; i++) {
      if (!this.inHeaders) return this.body(chunk.subarray(i));
      const b = chunk[i] as number;
      if (this.prev === CR && b !== LF) return this.fail('bare_cr');
      if (b === LF && this.prev !== CR) return this.fail('bare_lf');
      if (b === NUL) return this.fail('nul');
      this.header(b);
      if (this.problem !== null) return false;
      this.prev = b;
    }
    return true;
  }

  /** Call at the end of DATA: a trailing lone CR is a bare CR too. */
  finish(): DataProblem | null {
    if (this.problem === null && this.prev === CR) this.problem = 'bare_cr';
    return this.problem;
  }

  /** The body needs only the CR/LF pairing and NUL checks: done with native searches. */
  private body(chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    if (chunk.indexOf(NUL) >= 0) return this.fail('nul');
    const first = chunk[0] as number;
    if (this.prev === CR && first !== LF) return this.fail('bare_cr');
    if (first === LF && this.prev !== CR) return this.fail('bare_lf');
    for (let at = chunk.indexOf(LF, 1); at >= 0; at = chunk.indexOf(LF, at + 1)) {
      if (chunk[at - 1] !== CR) return this.fail('bare_lf');
    }
    const last = chunk.length - 1;
    for (let at = chunk.indexOf(CR); at >= 0 && at < last; at = chunk.indexOf(CR, at + 1)) {
      if (chunk[at + 1] !== LF) return this.fail('bare_cr');
    }
    this.prev = chunk[last] as number;
    return true;
  }

  private fail(p: DataProblem): false {
    this.problem ??= p;
    return false;
  }

  private header(b: number): void {
    if (b === LF) {
      // CRLF alone ends the header section.
      if (this.lineLen === 1) this.inHeaders = false;
      this.lineLen = 0;
      this.lineStart = [];
      return;
    }
    if (this.lineLen < RECEIVED.length) {
      this.lineStart.push(b >= 0x41 && b <= 0x5a ? b + 32 : b);
      if (this.lineLen === RECEIVED.length - 1 && Buffer.from(this.lineStart).equals(RECEIVED)) {
        this.received++;
        if (this.received > this.maxReceived) this.problem ??= 'loop';
      }
    }
    this.lineLen++;
  }
}
