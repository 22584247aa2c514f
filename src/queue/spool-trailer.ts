// The trailer of a spool file (`queue/<id>.msg`): after the message's octets
// come its envelope (JSON) and a fixed-size footer that says where the
// message ends and proves the trailer whole. Pure encoding and decoding, no
// I/O: src/queue/spool-file.ts reads files with it.
//
// Footer (FOOTER_SIZE octets, big-endian):
//   0  "MWSPOOL1"             magic and format version
//   8  uint64 message size    octets [0, size) are the message
//  16  uint32 JSON length     the envelope's JSON follows the message
//  20  uint32 CRC32 of JSON
//  24  uint32 CRC32 of the message (checked by recovery only: it reads the whole file)
//  28  uint32 CRC32 of octets 0..28 of the footer
// A file is a committed message only when its footer is whole and agrees
// with the file's size: a file still arriving, or cut short by a crash, has
// no valid footer and is never read as a message.

import { crc32 } from 'node:zlib';
import type { Envelope } from './envelope.ts';

export const FOOTER_SIZE = 32;
const MAGIC = Buffer.from('MWSPOOL1', 'latin1');
/** An envelope longer than this is not one we wrote (history is bounded, recipients are limited). */
export const MAX_ENVELOPE_JSON = 16 * 1024 * 1024;

export interface Footer {
  messageSize: number;
  jsonLength: number;
  jsonCrc: number;
  messageCrc: number;
}

/** The envelope's JSON and the footer, to append after a message of `messageSize` octets whose CRC32 is `messageCrc`. */
export function encodeTrailer(envelope: Envelope, messageSize: number, messageCrc: number): Buffer {
  const json = Buffer.from(JSON.stringify(envelope, null, 1) + '\n');
  const footer = Buffer.alloc(FOOTER_SIZE);
  MAGIC.copy(footer, 0);
  footer.writeBigUInt64BE(BigInt(messageSize), 8);
  footer.writeUInt32BE(json.length, 16);
  footer.writeUInt32BE(crc32(json), 20);
  footer.writeUInt32BE(messageCrc >>> 0, 24);
  footer.writeUInt32BE(crc32(footer.subarray(0, 28)), 28);
  return Buffer.concat([json, footer]);
}

/** The footer of a file of `fileSize` octets whose last FOOTER_SIZE octets are `tail`, or why it has none. */
export function parseFooter(tail: Buffer, fileSize: number): { ok: true; footer: Footer } | { ok: false; reason: string } {
  if (fileSize < FOOTER_SIZE || tail.length !== FOOTER_SIZE) return { ok: false, reason: 'no footer (shorter than one)' };
  if (!tail.subarray(0, 8).equals(MAGIC)) return { ok: false, reason: 'no footer (no magic)' };
  if (tail.readUInt32BE(28) !== crc32(tail.subarray(0, 28))) return { ok: false, reason: "footer's checksum does not match" };
  const size = tail.readBigUInt64BE(8);
  const jsonLength = tail.readUInt32BE(16);
  if (jsonLength > MAX_ENVELOPE_JSON || size > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'footer out of range' };
  const messageSize = Number(size);
  if (messageSize + jsonLength + FOOTER_SIZE !== fileSize) return { ok: false, reason: "footer does not match the file's size" };
  return { ok: true, footer: { messageSize, jsonLength, jsonCrc: tail.readUInt32BE(20), messageCrc: tail.readUInt32BE(24) } };
}

/** The envelope's JSON as the footer describes it, parsed (not yet checked as an envelope), or why not. */
export function parseTrailerJson(json: Buffer, footer: Footer): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (json.length !== footer.jsonLength) return { ok: false, reason: 'envelope cut short' };
  if (crc32(json) !== footer.jsonCrc) return { ok: false, reason: "envelope's checksum does not match" };
  try {
    return { ok: true, value: JSON.parse(json.toString('utf8')) };
  } catch {
    return { ok: false, reason: 'envelope is not JSON' };
  }
}
