// Reads what the spool keeps on disk, for tests that look at the files: a
// message's octets and its envelope, from `<id>.msg` (message, envelope
// trailer, footer) or the previous layout's `<id>.eml` + `<id>.json`.

import { existsSync, readdirSync, readFileSync, statSync, watch } from 'node:fs';
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

/** Whether a file is a committed `.msg` (a whole footer that agrees with the file's size), read independently of the spool's code. */
export function isCommittedFile(path: string): boolean {
  try {
    const file = readFileSync(path);
    parse(file);
    return true;
  } catch {
    return false;
  }
}

/** Ids of the committed messages in an area directory: `.msg` files with a valid trailer, and `.eml` files with their `.json` (the previous layout). */
export function committedIds(areaDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(areaDir);
  } catch {
    return [];
  }
  const set = new Set(names);
  const ids: string[] = [];
  for (const n of names) {
    const m = /^([0-9a-z]{16})\.(msg|eml)$/.exec(n);
    if (!m) continue;
    if (m[2] === 'eml' ? set.has(`${m[1]}.json`) : isCommittedFile(join(areaDir, n))) ids.push(m[1] as string);
  }
  return ids.sort();
}

/** Resolves once a file in `dir` has data in it (a message being received, past its first write). */
export function fileWithData(dir: string): Promise<void> {
  return new Promise((done) => {
    const check = (): boolean => readdirSync(dir).some((n) => {
      try {
        return statSync(join(dir, n)).size > 0;
      } catch {
        return false;
      }
    });
    const w = watch(dir, () => {
      if (check()) (w.close(), done());
    });
    if (check()) (w.close(), done());
  });
}
