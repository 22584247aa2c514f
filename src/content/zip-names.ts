// The names inside a zip archive (and inside the zips within it, up to a
// depth), for the content rules' `archive: true`. yauzl reads the central
// directory (validated: sizes, offsets); a nested zip (known by its name or
// by its first four octets) is inflated, into
// a SpillBuffer bounded by the archive limits, so that a zip bomb stops at
// the limit with memory bounded. Every limit reached, a damaged or an
// encrypted archive is a problem, judged by content.archive.on_error.

import yauzl from 'yauzl';
import type { ArchiveLimits } from '../config/content-settings.ts';
import { extensionsOf, printable } from './file-names.ts';
import { SpillBuffer } from './spill-buffer.ts';

/** One name found inside an archive. */
export interface ArchiveEntry {
  /** The name as the archive gives it (a path), printable and bounded. */
  name: string;
  /** Every extension of every name the entry carries (the Unicode path field and the plain name may differ). */
  extensions: string[];
  /** The decoded names (at most two), bounded, for filename expressions. */
  names: string[];
  /** Octets once inflated, as declared (yauzl checks the declaration when an entry is read). */
  size: number;
  /** The archive chain, outermost first. */
  chain: string[];
}

export interface ArchiveProblem {
  chain: string[];
  reason: string;
}

/** What is left of the per-message limits (every archive of a message draws on the same budget). */
export interface ArchiveBudget {
  entries: number;
  expanded: number;
}

export interface ZipWalk {
  readonly limits: ArchiveLimits;
  readonly budget: ArchiveBudget;
  readonly entries: ArchiveEntry[];
  readonly problems: ArchiveProblem[];
  readonly tmp: string | undefined;
}

const MAX_NAME = 512;

/** Whether these octets start like a zip (a local file header, or the end record of an empty one). */
export function looksLikeZip(head: Buffer): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6));
}

/** Lists the archive (depth 1 = the attached archive) into w.entries; problems into w.problems. Never throws for the archive's sake. */
export async function walkZip(source: { buffer: Buffer } | { path: string }, chain: string[], depth: number, w: ZipWalk): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    // decodeStrings off: yauzl refuses names with a backslash or "..", which we list rather than lose the whole archive.
    const opts = { decodeStrings: false, validateEntrySizes: true, autoClose: true };
    zip = 'buffer' in source ? await yauzl.fromBufferPromise(source.buffer, opts) : await yauzl.openPromise(source.path, opts);
  } catch (err) {
    w.problems.push({ chain, reason: `damaged archive (${message(err)})` });
    return;
  }
  try {
    for await (const entry of zip.eachEntry()) {
      if (w.budget.entries <= 0) {
        w.problems.push({ chain, reason: `more than ${w.limits.max_entries} names in archives (content.archive.max_entries)` });
        break;
      }
      w.budget.entries--;
      const e = describe(entry, chain);
      w.entries.push(e);
      if (entry.isEncrypted()) {
        w.problems.push({ chain, reason: `encrypted: ${e.name}` });
        continue;
      }
      // A nested zip is known by its name, or by its first octets whatever its name (a zip inside as photo.jpg).
      if (!e.extensions.includes('zip') && !(await startsLikeZip(zip, entry, [...chain, e.name], w))) continue;
      const inner = [...chain, e.name];
      if (depth >= w.limits.max_depth) {
        w.problems.push({ chain: inner, reason: `nested deeper than ${w.limits.max_depth} (content.archive.max_depth)` });
        continue;
      }
      await nested(zip, entry, inner, depth, w);
    }
  } catch (err) {
    w.problems.push({ chain, reason: `damaged archive (${message(err)})` });
  } finally {
    zip.close();
  }
}

/**
 * Whether an entry's first four octets are a zip's signature: only those are
 * inflated (a few octets of each entry, counted against max_expanded). An
 * entry that cannot be read is a problem (a damaged archive could hide one).
 */
async function startsLikeZip(zip: yauzl.ZipFile, entry: yauzl.Entry, chain: string[], w: ZipWalk): Promise<boolean> {
  if (entry.uncompressedSize < 4 || entry.fileNameRaw.at(-1) === 0x2f) return false;
  if (w.budget.expanded < 4) {
    w.problems.push({ chain, reason: `not looked into: inflating passes ${w.limits.max_expanded} octets (content.archive.max_expanded)` });
    return false;
  }
  let head = Buffer.alloc(0);
  let stream;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (err) {
    w.problems.push({ chain, reason: `cannot be read (${message(err)})` });
    return false;
  }
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
      if (head.length >= 4) break;
    }
  } catch (err) {
    w.problems.push({ chain, reason: `damaged archive (${message(err)})` });
    return false;
  } finally {
    stream.destroy();
  }
  w.budget.expanded -= head.length;
  return looksLikeZip(head);
}

/** Inflates one nested zip within the limits, and walks it. */
async function nested(zip: yauzl.ZipFile, entry: yauzl.Entry, chain: string[], depth: number, w: ZipWalk): Promise<void> {
  if (entry.uncompressedSize > w.limits.max_size) {
    w.problems.push({ chain, reason: `larger than ${w.limits.max_size} octets (content.archive.max_size)` });
    return;
  }
  if (entry.uncompressedSize > w.budget.expanded) {
    w.problems.push({ chain, reason: `inflating it passes ${w.limits.max_expanded} octets (content.archive.max_expanded)` });
    return;
  }
  const buf = new SpillBuffer(Math.min(w.limits.max_size, w.budget.expanded), w.tmp);
  try {
    let stream;
    try {
      stream = await zip.openReadStreamPromise(entry);
    } catch (err) {
      w.problems.push({ chain, reason: `cannot be read (${message(err)})` });
      return;
    }
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        await buf.write(chunk);
        if (buf.over) break;
      }
    } catch (err) {
      w.problems.push({ chain, reason: `damaged archive (${message(err)})` });
      return;
    } finally {
      stream.destroy();
    }
    w.budget.expanded -= buf.size;
    if (buf.over) {
      w.budget.expanded = 0;
      w.problems.push({ chain, reason: `inflating it passes the archive limits (content.archive.max_size, max_expanded)` });
      return;
    }
    await walkZip(await buf.done(), chain, depth + 1, w);
  } finally {
    await buf.dispose();
  }
}

function describe(entry: yauzl.Entry, chain: string[]): ArchiveEntry {
  const raw = entry.fileNameRaw;
  // The Info-ZIP Unicode path field, when valid, else the plain name (UTF-8 flag or CP437); both count.
  const named = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false);
  const plain = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, [], false);
  const names = named === plain ? [named] : [named, plain];
  const extensions: string[] = [];
  for (const n of names) for (const x of extensionsOf(n)) if (!extensions.includes(x)) extensions.push(x);
  return { name: printable(named, MAX_NAME), extensions, names: names.map((n) => n.slice(0, 4096)), size: entry.uncompressedSize, chain };
}

function message(err: unknown): string {
  return printable(err instanceof Error ? err.message : String(err), 200);
}
