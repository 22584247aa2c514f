// Reads the trailer of a spool file (`<id>.msg`, see spool-trailer.ts):
// synchronous, like the rest of the spool's reading (list and read are
// called by the CLI too). Only recovery asks for the message's checksum,
// which reads the whole file.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { FOOTER_SIZE, parseFooter, parseTrailerJson, type Footer } from './spool-trailer.ts';

export type SpoolFileRead = { ok: true; footer: Footer; envelope: unknown } | { ok: false; reason: string; absent?: true };

export function readSpoolFile(path: string, opts: { verifyMessage?: boolean } = {}): SpoolFileRead {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, reason: 'absent', absent: true };
    return { ok: false, reason: `cannot open: ${(err as Error).message}` };
  }
  try {
    const size = fstatSync(fd).size;
    if (size < FOOTER_SIZE) return { ok: false, reason: 'no footer (shorter than one)' };
    const tail = readAt(fd, size - FOOTER_SIZE, FOOTER_SIZE);
    const f = parseFooter(tail, size);
    if (!f.ok) return f;
    const json = parseTrailerJson(readAt(fd, f.footer.messageSize, f.footer.jsonLength), f.footer);
    if (!json.ok) return json;
    if (opts.verifyMessage && messageCrc(fd, f.footer.messageSize) !== f.footer.messageCrc) return { ok: false, reason: "message's checksum does not match" };
    return { ok: true, footer: f.footer, envelope: json.value };
  } catch (err) {
    return { ok: false, reason: `cannot read: ${(err as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

function messageCrc(fd: number, size: number): number {
  const buf = Buffer.alloc(Math.min(size, 256 * 1024));
  let crc = 0;
  for (let pos = 0; pos < size; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (n === 0) return -1;
    crc = crc32(buf.subarray(0, n), crc);
    pos += n;
  }
  return crc;
}
