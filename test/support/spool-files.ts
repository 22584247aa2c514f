// Reads what the spool keeps on disk, for tests that look at the files: a
// message's octets and its envelope, from `<id>.msg` (message, envelope
// trailer, footer) or the previous layout's `<id>.eml` + `<id>.json`.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FOOTER_SIZE, parseFooter, parseTrailerJson } from '../../src/queue/spool-trailer.ts';
import type { Envelope } from '../../src/queue/envelope.ts';

function parse(file: Buffer): { message: Buffer; envelope: Envelope } {
  const f = parseFooter(file.subarray(file.length - FOOTER_SIZE), file.length);
  if (!f.ok) throw new Error(`not a committed spool file: ${f.reason}`);
  const { messageSize, jsonLength } = f.footer;
  const json = parseTrailerJson(file.subarray(messageSize, messageSize + jsonLength), f.footer);
  if (!json.ok) throw new Error(`bad trailer: ${json.reason}`);
  return { message: file.subarray(0, messageSize), envelope: json.value as Envelope };
}

/** The message's octets as stored in an area directory (queue/ or quarantine/). */
export function storedMessage(areaDir: string, id: string): Buffer {
  const msg = join(areaDir, `${id}.msg`);
  if (existsSync(msg)) return parse(readFileSync(msg)).message;
  return readFileSync(join(areaDir, `${id}.eml`));
}

/** The message's envelope as stored: its `<id>.json` when there is one, else the trailer's. */
export function storedEnvelope(areaDir: string, id: string): Envelope {
  const json = join(areaDir, `${id}.json`);
  if (existsSync(json)) return JSON.parse(readFileSync(json, 'utf8')) as Envelope;
  return parse(readFileSync(join(areaDir, `${id}.msg`))).envelope;
}

/** A message's octets in a data directory's spool. */
export function spooledMessage(dataDir: string, id: string, area: 'queue' | 'quarantine' = 'queue'): Buffer {
  return storedMessage(join(dataDir, 'spool', area), id);
}

/** Every file of a directory with its content, to prove that something wrote nothing. */
export function queueFiles(dir: string): string {
  return readdirSync(dir)
    .sort()
    .map((n) => `${n}:${readFileSync(join(dir, n)).toString('base64')}`)
    .join('\n');
}
