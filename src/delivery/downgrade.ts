// 8BITMIME down-conversion (RFC 6152 §3): an 8-bit message for a next hop
// that does not announce 8BITMIME is converted to 7 bit, as Postfix does,
// in two streaming passes over the spooled file with mailsplit (memory stays
// flat whatever the size):
//
// 1. scan8Bit() walks the MIME tree and notes which leaf parts hold 8-bit
//    octets, and anything that cannot be converted;
// 2. downgrade() rewrites exactly those parts: text/* as quoted-printable,
//    anything else as base64, with Content-Transfer-Encoding updated; a
//    multipart or message/rfc822 container labelled 8bit or binary becomes
//    7bit (its content is 7 bit once its parts are). Nothing else changes.
//
// A message whose octets are all 7 bit is not touched at all (it goes out
// byte for byte as stored, see the caller). What cannot be converted fails
// permanently (the message will never change; the caller decides, see
// src/delivery/transaction.ts bodyVerdict()):
// - 8-bit octets in a header field (of the message or of any part): the
//   field cannot be re-encoded faithfully (an address, a parameter; RFC 2047
//   would have to guess the charset and cannot touch a local part);
// - 8-bit octets in a message/* part mailsplit does not open (an attached
//   message/rfc822, message/global...: RFC 2046 §5.2.1 forbids encoding
//   message/rfc822), or outside every part (a preamble or epilogue), or in a
//   part already labelled quoted-printable or base64.

import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mailsplit from '@zone-eu/mailsplit';
import { Base64Encoder, QpEncoder, type BodyEncoder } from './transfer-encode.ts';

const { Splitter, Joiner } = mailsplit;

/** Same options in both passes, so that part numbers agree. */
const SPLIT = { defaultInlineEmbedded: true, maxHeadSize: 1024 * 1024 };

export interface ScanResult {
  /** A header field, of the message or of a part, holds 8-bit octets (RFC 6532 UTF-8 headers, or worse). */
  headers8Bit: boolean;
  /** Some octet outside the header fields is 8-bit. */
  body8Bit: boolean;
  /** Part numbers (in mailsplit's order) of the leaf parts to re-encode. */
  parts: Set<number>;
  /** Why the 8-bit octets outside the header fields cannot be converted (5.6.3), or null. */
  unconvertible: string | null;
}

type MimeNode = InstanceType<typeof mailsplit.MimeNode>;
type Chunk = MimeNode | { type: 'body' | 'data'; value: Buffer; node?: MimeNode };

const has8Bit = (b: Buffer): boolean => {
  for (let i = 0; i < b.length; i++) if ((b[i] as number) > 0x7f) return true;
  return false;
};

/**
 * The message's header section without its first field, our own Received
 * (the spool file always starts with it). It names the recipient as received
 * ("for <kai@bücher.example>"): trace information about an address that the
 * envelope rules already judged, not a UTF-8 header of the sender's.
 */
function afterOurReceived(headers: Buffer): Buffer {
  if (!headers.subarray(0, 9).equals(Buffer.from('Received:'))) return headers;
  for (let i = headers.indexOf('\n'); i >= 0; i = headers.indexOf('\n', i + 1)) {
    const next = headers[i + 1];
    if (next !== 0x20 && next !== 0x09) return headers.subarray(i + 1);
  }
  return Buffer.alloc(0);
}

const IDENTITY = new Set(['', '7bit', '8bit', 'binary']);
const enc = (n: MimeNode): string => (n.encoding || '').toLowerCase();

/** Pass 1: where the 8-bit octets are, and whether they can be converted. */
export async function scan8Bit(message: Readable): Promise<ScanResult> {
  const result: ScanResult = { headers8Bit: false, body8Bit: false, parts: new Set(), unconvertible: null };
  let index = -1;
  let node: MimeNode | null = null;
  const sink = new Transform({
    writableObjectMode: true,
    transform(chunk: Chunk, _e: BufferEncoding, done: TransformCallback) {
      if (chunk.type === 'node') {
        index++;
        node = chunk;
        const headers = chunk.getHeaders();
        if (has8Bit(index === 0 ? afterOurReceived(headers) : headers)) result.headers8Bit = true;
        return done();
      }
      if (!has8Bit(chunk.value)) return done();
      result.body8Bit = true;
      if (result.unconvertible) return done();
      if (chunk.type === 'data' || !node) {
        result.unconvertible = 'a multipart preamble or epilogue holds 8-bit octets';
      } else if ((node.contentType || '').startsWith('message/')) {
        result.unconvertible = `a ${node.contentType} part holds 8-bit octets, and such a part may not be re-encoded (RFC 2046)`;
      } else if (!IDENTITY.has(enc(node))) {
        result.unconvertible = `a part labelled ${enc(node)} holds 8-bit octets`;
      } else {
        result.parts.add(index);
      }
      done();
    },
  });
  sink.resume();
  try {
    await pipeline(message, new Splitter(SPLIT), sink);
  } catch (err) {
    // A file that cannot be read is for a retry; a structure mailsplit refuses
    // (a header block over its limit...) will not change.
    const e = err as NodeJS.ErrnoException;
    if (e.syscall) throw err;
    result.body8Bit = true;
    result.unconvertible = `the MIME structure cannot be parsed: ${e.message}`;
  }
  return result;
}

/** Pass 2: the parts found by scan8Bit(), re-encoded; containers relabelled. */
class Downgrade extends Transform {
  private index = -1;
  private encoder: BodyEncoder | null = null;
  private readonly parts: Set<number>;

  constructor(parts: Set<number>) {
    super({ objectMode: true });
    this.parts = parts;
  }

  private closePart(): void {
    if (!this.encoder) return;
    const tail = this.encoder.end();
    this.encoder = null;
    if (tail.length) this.push({ type: 'body', value: tail });
  }

  override _transform(chunk: Chunk, _e: BufferEncoding, done: TransformCallback): void {
    if (chunk.type === 'node') {
      this.closePart();
      this.index++;
      const headers = chunk.headers;
      if (headers && this.parts.has(this.index)) {
        const text = !chunk.contentType || chunk.contentType.startsWith('text/');
        const cte = text ? 'quoted-printable' : 'base64';
        if (headers.hasHeader('Content-Transfer-Encoding')) headers.update('Content-Transfer-Encoding', cte);
        else headers.add('Content-Transfer-Encoding', cte, Number.MAX_SAFE_INTEGER);
        this.encoder = text ? new QpEncoder() : new Base64Encoder();
      } else if (headers && (enc(chunk) === '8bit' || enc(chunk) === 'binary')) {
        // A container's content, or a leaf with no 8-bit octet, is 7 bit once converted.
        headers.update('Content-Transfer-Encoding', '7bit');
      }
      this.push(chunk);
      return done();
    }
    if (chunk.type === 'body' && this.encoder) {
      const out = this.encoder.push(chunk.value);
      if (out.length) this.push({ type: 'body', value: out });
      return done();
    }
    this.closePart();
    this.push(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    this.closePart();
    done();
  }
}

/** The converted message (pass 2); errors of `source` end the stream with that error. */
export function downgrade(source: Readable, parts: Set<number>): Readable {
  const splitter = new Splitter(SPLIT);
  const joiner = new Joiner();
  // pipeline() would destroy every stage on an error; the last one is what the caller reads.
  void pipeline(source, splitter, new Downgrade(parts), joiner).catch((err: Error) => joiner.destroy(err));
  return joiner as unknown as Readable;
}
