// The MIME walk of the content rules: reads a message as a stream with
// @zone-eu/mailsplit's Splitter and reports each part (PartInfo, numbered as
// content-types.ts says), the names inside its zip archives, the decoded
// values of the header fields asked for, and the decoded text of its text
// parts (bounded). Memory stays flat whatever the message's size: bodies are
// decoded chunk by chunk and dropped; only an archive is kept whole, bounded
// and spilled to a temp file past 1 MiB (spill-buffer.ts).
//
// A message mailsplit cannot read to the end (a header block over 1 MiB,
// more than 1000 parts) is judged as far as it was read (`incomplete`, which
// content.on_unreadable judges in evaluate.ts); an
// error of the source (the spool cannot be read) is thrown: that is ours.

import mailsplit from '@zone-eu/mailsplit';
import libmime from 'libmime';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { ArchiveLimits } from '../config/content-settings.ts';
import type { PartInfo } from './content-types.ts';
import { extensionsOf, printable } from './file-names.ts';
import { SpillBuffer } from './spill-buffer.ts';
import { PART_SPLIT_OPTIONS } from './strip.ts';
import { looksLikeZip, walkZip, type ArchiveBudget, type ArchiveProblem, type ZipWalk } from './zip-names.ts';

const { Splitter } = mailsplit;
type MimeNode = InstanceType<typeof mailsplit.MimeNode>;
type Chunk = { type: 'node' } & MimeNode | { type: 'body' | 'data'; value: Buffer };

/** Decoded octets of one text part that body expressions see (the rest of a longer part is not read). */
export const TEXT_LIMIT = 1_048_576;
/** Characters of one header field value that header expressions see. */
export const HEADER_LIMIT = 65_536;
const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed', 'application/x-zip']);

export interface InspectOptions {
  /** Open zip archives (some rule has archive: true). */
  archives: boolean;
  limits: ArchiveLimits;
  /** Header fields (any case) of the message's top-level header whose decoded values are wanted. */
  headers: readonly string[];
  /** Given the decoded text of each text/* part (at most TEXT_LIMIT octets of it); null: text is not read. */
  onText: ((part: PartInfo, text: string) => void) | null;
  /** Where an archive larger than 1 MiB is kept while it is read (default: the system's temp directory). */
  tmp?: string;
  /**
   * Given for a walk that may end early: whether the rules need the body of
   * this part. A message that is one leaf part whose body nothing needs (the
   * common plain text message) is read no further than its header; `size`
   * is then the message's size as the caller knows it.
   */
  earlyEnd?: { needBody: (part: PartInfo) => boolean; size: number };
  /** An attached message being walked (inside the walk of its container): how deep, and the container's archive budget. */
  nested?: { depth: number; budget: ArchiveBudget };
}

/** Attached messages (message/rfc822 parts) are opened to this depth, as archives are. */
export const MAX_MESSAGE_DEPTH = 3;

export interface Inspection {
  /** Every MIME node, in order (index = position, from 1). */
  parts: PartInfo[];
  /** The names inside archives, each with `inArchive` and the index of the part that holds the archive. */
  entries: PartInfo[];
  headers: Map<string, string[]>;
  /** Octets of the message. */
  size: number;
  /** Archives not read to the end (limits, damage, encryption): content.archive.on_error judges them. */
  archiveProblems: (ArchiveProblem & { index: number })[];
  /** Why the walk stopped before the end of the message, or null. */
  incomplete: string | null;
  /** Parts the strip action cannot remove alone, by index, and why (strip.ts refuses them). */
  unstrippable: Map<number, string>;
}


/** Walks the message; rejects only when the source itself fails. */
export async function inspectMessage(source: AsyncIterable<Buffer>, o: InspectOptions): Promise<Inspection> {
  if (!o.earlyEnd || o.nested) return walk(source, o);
  const head = await readHeaderBlock(source);
  if (head.lines) {
    const judged = headerOnly(head.lines, o);
    if (judged) {
      await head.rest.return?.();
      return judged;
    }
  }
  return walk(head.replay, o);
}

/** Header blocks this long are left to the full walk (mailsplit's own limit, maxHeadSize, judges them). */
const FAST_HEADER_MAX = 256 * 1024;
/** mailsplit's least cost of a header line against maxHeadSize (mime-node.js HEADER_LINE_MIN_COST). */
const HEADER_LINE_MIN_COST = 64;

/**
 * Reads the message's top-level header block, split into lines as mailsplit
 * splits them (at LF, the empty line that ends the block included), without
 * a stream pipeline: `lines` is null when the block did not end within
 * FAST_HEADER_MAX octets or within the message. `replay` yields the message
 * from its first octet whatever was read.
 */
async function readHeaderBlock(source: AsyncIterable<Buffer>): Promise<{ lines: Buffer[] | null; rest: AsyncIterator<Buffer>; replay: AsyncIterable<Buffer> }> {
  const rest = source[Symbol.asyncIterator]();
  const read: Buffer[] = [];
  const replay = {
    async *[Symbol.asyncIterator]() {
      yield* read;
      for (;;) {
        const r = await rest.next();
        if (r.done) return;
        yield r.value;
      }
    },
  };
  let buf: Buffer = Buffer.alloc(0);
  let cost = 0;
  let start = 0;
  const lines: Buffer[] = [];
  for (;;) {
    const r = await rest.next();
    if (r.done) return { lines: null, rest, replay };
    read.push(r.value);
    buf = buf.length === 0 ? r.value : Buffer.concat([buf, r.value]);
    for (;;) {
      const lf = buf.indexOf(0x0a, start);
      if (lf < 0) break;
      const line = buf.subarray(start, lf + 1);
      start = lf + 1;
      lines.push(line);
      if (line.length === 1 || (line.length === 2 && line[0] === 0x0d)) return { lines, rest, replay };
      cost += Math.max(line.length, HEADER_LINE_MIN_COST);
      if (cost > FAST_HEADER_MAX) return { lines: null, rest, replay };
    }
    if (buf.length - start > FAST_HEADER_MAX) return { lines: null, rest, replay };
  }
}

/**
 * The walk's answer from the header block alone, for the message that is
 * one leaf part whose body nothing needs (the common plain message): the
 * same MimeNode mailsplit's Splitter would build, without its stream (a
 * pipeline's end costs a DOMException, and each chunk a setImmediate turn).
 * null: the body must be read (a multipart, an attached message, a rule on
 * the part's body).
 */
function headerOnly(lines: Buffer[], o: InspectOptions): Inspection | null {
  const node = new mailsplit.MimeNode(false, PART_SPLIT_OPTIONS) as MimeNode;
  for (const line of lines) node.addHeaderChunk(line);
  node.parseHeaders();
  const part = partOf(node, 1);
  if (part.multipart || node.rfc822 || o.earlyEnd!.needBody(part)) return null;
  const out: Inspection = { parts: [part], entries: [], headers: new Map(), size: o.earlyEnd!.size, archiveProblems: [], incomplete: null, unstrippable: new Map() };
  readHeaders(node, o.headers, out.headers);
  const why = unstrippable(node);
  if (why) out.unstrippable.set(1, why);
  return out;
}

/** The full walk through mailsplit's Splitter (exported for the tests that hold the header-only answer to it). */
export async function walk(source: AsyncIterable<Buffer>, o: InspectOptions): Promise<Inspection> {
  const out: Inspection = { parts: [], entries: [], headers: new Map(), size: 0, archiveProblems: [], incomplete: null, unstrippable: new Map() };
  const zip: ZipWalk = { limits: o.limits, budget: o.nested?.budget ?? { entries: o.limits.max_entries, expanded: o.limits.max_expanded }, entries: [], problems: [], tmp: o.tmp };
  let current: PartState | null = null;
  let sourceError: unknown = null;
  // An error of the walk itself (a temp file that cannot be written): ours, not the message's.
  let walkError: unknown = null;
  // The rest of the message cannot change the answer: the source stops and the pipeline ends as at the message's
  // end (not with an error: an aborted pipeline costs a DOMException and an error teardown, a tenth of a small
  // message's CPU in bench --profile).
  let enough = false;

  // Only an error of the source itself is thrown on (the pipeline also ends this generator with mailsplit's errors).
  const counted = async function* () {
    const it = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (err) {
          sourceError = err;
          throw err;
        }
        if (r.done || enough) return;
        out.size += r.value.length;
        yield r.value;
        if (enough) return;
        // mailsplit works through what it was given in setImmediate steps: let it, before more is read
        // (otherwise the source is read far ahead of the walk, and an early end saves nothing).
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      await it.return?.();
    }
  };

  const finish = async () => {
    const p = current;
    current = null;
    if (p) await p.end(out, zip, o);
  };

  const sink = new Writable({
    objectMode: true,
    write(chunk: Chunk, _enc, done) {
      if (enough) return done();
      const step = async () => {
        if (chunk.type === 'node') {
          await finish();
          const part = partOf(chunk, out.parts.length + 1);
          out.parts.push(part);
          if (part.index === 1) readHeaders(chunk, o.headers, out.headers);
          const why = unstrippable(chunk);
          if (why) out.unstrippable.set(part.index, why);
          if (!part.multipart) current = new PartState(part, chunk, o, zip.budget);
          if (part.index === 1 && o.earlyEnd && !part.multipart && !chunk.rfc822 && !o.earlyEnd.needBody(part)) enough = true;
        } else if (chunk.type === 'body' && current) {
          await current.body(chunk.value);
        }
      };
      step().then(
        () => done(),
        (err: unknown) => {
          walkError = err;
          done(err as Error);
        },
      );
    },
    final(done) {
      if (enough) return done();
      finish().then(
        () => done(),
        (err: unknown) => {
          walkError = err;
          done(err as Error);
        },
      );
    },
  });
  try {
    await pipeline(Readable.from(counted(), { highWaterMark: 1 }), new Splitter(PART_SPLIT_OPTIONS), sink);
    if (enough) {
      // One leaf part and nothing needs its body: the size is the caller's.
      out.size = o.earlyEnd!.size;
      return out;
    }
  } catch (err) {
    if (sourceError !== null) throw sourceError;
    if (walkError !== null) throw walkError;
    // mailsplit refused the structure: judge what was read (the open part too).
    out.incomplete = printable(err instanceof Error ? err.message : String(err), 200);
    await finish();
  } finally {
    await (current as PartState | null)?.dispose();
  }
  return out;
}

/** One leaf part while its body arrives: decoded, measured, its text and its archive kept within bounds. */
class PartState {
  readonly part: PartInfo;
  private readonly decoder: ReturnType<MimeNode['getDecoder']>;
  private readonly charset: string;
  private text: Buffer[] | null;
  private textSize = 0;
  /** The first octets, until four are seen (a zip's signature); null after. */
  private head: Buffer | null;
  private archive: SpillBuffer | null = null;
  private readonly limits: ArchiveLimits;
  private readonly tmp: string | undefined;
  /** An attached message mailsplit leaves closed (disposition attachment, or base64): walked as it is decoded. */
  private inner: { pass: PassThrough; walk: Promise<Inspection> } | null = null;

  constructor(part: PartInfo, node: MimeNode, o: InspectOptions, budget: ArchiveBudget) {
    this.part = part;
    this.decoder = node.getDecoder();
    this.charset = (node.charset || 'utf-8').toString();
    this.text = o.onText && part.mimeType.startsWith('text/') ? [] : null;
    this.limits = o.limits;
    this.tmp = o.tmp;
    // A text part without a name is shown as text, not opened as a file: it is not sniffed for a zip.
    this.head = o.archives && (part.filename !== null || !part.mimeType.startsWith('text/')) ? Buffer.alloc(0) : null;
    if (o.archives && (ZIP_TYPES.has(part.mimeType) || part.extensions[0] === 'zip')) this.archive = new SpillBuffer(o.limits.max_size, o.tmp);
    const depth = o.nested?.depth ?? 0;
    if (o.archives && part.mimeType === 'message/rfc822' && depth < MAX_MESSAGE_DEPTH) {
      const pass = new PassThrough();
      this.head = null;
      this.inner = { pass, walk: inspectMessage(pass, { archives: true, limits: o.limits, headers: [], onText: null, ...(o.tmp ? { tmp: o.tmp } : {}), nested: { depth: depth + 1, budget } }) };
    }
  }

  async body(value: Buffer): Promise<void> {
    this.decoder.write(value);
    let d: Buffer | null;
    while ((d = this.decoder.read() as Buffer | null) !== null) await this.decoded(d);
  }

  private async decoded(d: Buffer): Promise<void> {
    this.part.size += d.length;
    if (this.text && this.textSize < TEXT_LIMIT) {
      const take = d.subarray(0, TEXT_LIMIT - this.textSize);
      this.text.push(Buffer.from(take));
      this.textSize += take.length;
    }
    // A zip is known by its first octets too (an archive sent under another name or type).
    if (this.head) {
      this.head = Buffer.concat([this.head, d]);
      if (this.head.length < 4) return;
      const seen = this.head;
      this.head = null;
      if (!this.archive && looksLikeZip(seen)) this.archive = new SpillBuffer(this.limits.max_size, this.tmp);
      // The octets held back while the first four were awaited.
      await this.archive?.write(seen);
      return;
    }
    await this.archive?.write(d);
    const inner = this.inner;
    // The inner walk may have stopped (a structure it could not read): then its stream is gone.
    if (inner && !inner.pass.destroyed && !inner.pass.write(d)) {
      await new Promise<void>((resolve) => {
        inner.pass.once('drain', resolve);
        inner.pass.once('close', resolve);
      });
    }
  }

  async end(out: Inspection, zip: ZipWalk, o: InspectOptions): Promise<void> {
    this.decoder.end();
    for await (const d of this.decoder as AsyncIterable<Buffer>) await this.decoded(d);
    // A part shorter than a zip's signature, named as a zip: read as the archive it claims to be.
    if (this.head) {
      await this.archive?.write(this.head);
      this.head = null;
    }
    if (this.text && o.onText) {
      o.onText(this.part, decodeText(Buffer.concat(this.text), this.charset));
      this.text = null;
    }
    if (this.inner) await this.endInner(out);
    const a = this.archive;
    if (!a) return;
    try {
      const chain = [this.part.filename ?? `part ${this.part.index}`];
      if (a.over) out.archiveProblems.push({ index: this.part.index, chain, reason: `larger than ${o.limits.max_size} octets (content.archive.max_size)` });
      else {
        const before = zip.entries.length;
        const problems = zip.problems.length;
        await walkZip(await a.done(), chain, 1, zip);
        for (const e of zip.entries.slice(before)) {
          out.entries.push({ index: this.part.index, mimeType: 'application/octet-stream', filename: e.name, extensions: e.extensions, size: e.size, multipart: false, inArchive: e.chain, ...(e.names.length > 1 || e.names[0] !== e.name ? { names: e.names } : {}) });
        }
        zip.entries.length = 0;
        for (const p of zip.problems.slice(problems)) out.archiveProblems.push({ index: this.part.index, ...p });
        zip.problems.length = 0;
      }
    } finally {
      await this.dispose();
    }
  }

  /** The parts of an attached message (and the names in its archives), as names inside it. */
  private async endInner(out: Inspection): Promise<void> {
    const inner = this.inner!;
    this.inner = null;
    inner.pass.end();
    const x = await inner.walk;
    const chain = [this.part.filename ?? `attached message (part ${this.part.index})`];
    for (const p of x.parts) {
      if (p.multipart) continue;
      out.entries.push({ ...p, index: this.part.index, inArchive: chain });
    }
    for (const e of x.entries) out.entries.push({ ...e, index: this.part.index, inArchive: [...chain, ...(e.inArchive ?? [])] });
    for (const p of x.archiveProblems) out.archiveProblems.push({ index: this.part.index, chain: [...chain, ...p.chain], reason: p.reason });
    if (x.incomplete) out.archiveProblems.push({ index: this.part.index, chain, reason: `attached message not read to the end: ${x.incomplete}` });
  }

  async dispose(): Promise<void> {
    this.inner?.pass.destroy();
    this.inner = null;
    const a = this.archive;
    this.archive = null;
    await a?.dispose();
  }
}

/** Why strip.ts would refuse to remove this part alone, or null. */
function unstrippable(node: MimeNode): string | null {
  if (!node.parentNode) return 'the root of the message';
  if (node.multipart) return `a multipart/${node.multipart} container`;
  if (!node.parentNode.multipart) return 'the whole body of an attached message';
  for (let p: MimeNode['parentNode'] = node.parentNode; p; p = p.parentNode) {
    if (p.multipart === 'signed' || p.multipart === 'encrypted') return `a part of a multipart/${p.multipart} (removing it would read as tampering)`;
  }
  return null;
}

function partOf(node: MimeNode, index: number): PartInfo {
  const names = namesOf(node);
  const extensions: string[] = [];
  for (const n of names) for (const x of extensionsOf(n)) if (!extensions.includes(x)) extensions.push(x);
  const part: PartInfo = { index, mimeType: (node.contentType || 'text/plain').toString().toLowerCase(), filename: names[0] === undefined ? null : printable(names[0], 512), extensions, size: 0, multipart: Boolean(node.multipart) };
  if (names.length > 1) part.names = names;
  return part;
}

/**
 * The decoded names of a part: Content-Disposition filename (RFC 2231
 * filename*, continuations and charsets, or RFC 2047 words), as mailsplit
 * decodes it, and the Content-Type name when it says something else: a
 * mail program may show either, so both count.
 */
function namesOf(node: MimeNode): string[] {
  const names: string[] = [];
  if (node.filename) names.push(node.filename.toString());
  const ct = (node as unknown as { _parsedContentType?: { params: Record<string, string>; decodedParams?: string[] } })._parsedContentType;
  let name = ct?.params?.name;
  if (name) {
    if (!ct?.decodedParams?.includes('name')) {
      try {
        name = libmime.decodeWords(name);
      } catch {
        // an unknown charset: the name as written
      }
    }
    if (!names.includes(name)) names.push(name);
  }
  for (const n of repeatedNames(node)) if (!names.includes(n)) names.push(n);
  return names.map((n) => n.slice(0, 4096));
}

/** A plain (not RFC 2231) filename= or name= parameter, quoted or a token. */
const NAME_PARAM = /;\s*(?:file)?name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s"]+))/gi;

/**
 * Every plain filename= and name= value of the part's header, when a header
 * gives one more than once (`filename="a.txt"; filename="b.exe"`): the
 * parser keeps one, a mail program may show another, so each counts. At
 * most 8, each RFC 2047 decoded.
 */
function repeatedNames(node: MimeNode): string[] {
  const out: string[] = [];
  for (const field of ['content-disposition', 'content-type']) {
    for (const line of node.headers ? node.headers.get(field).slice(0, 4) : []) {
      const value = line.slice(line.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '').slice(0, HEADER_LIMIT);
      const found = [...value.matchAll(NAME_PARAM)];
      if (found.length < 2) continue;
      for (const m of found) {
        if (out.length >= 8) return out;
        const raw = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!;
        let name = raw;
        try {
          name = libmime.decodeWords(raw);
        } catch {
          // an unknown charset: the name as written
        }
        if (name !== '' && !out.includes(name)) out.push(name);
      }
    }
  }
  return out;
}

/** The decoded values of the wanted fields of the top-level header (unfolded, RFC 2047 words decoded). */
function readHeaders(node: MimeNode, wanted: readonly string[], into: Map<string, string[]>): void {
  if (!node.headers) return;
  for (const name of wanted) {
    const key = name.toLowerCase();
    if (into.has(key)) continue;
    const values = node.headers.get(key).slice(0, 100).map((line) => {
      const raw = line.slice(line.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '').trim().slice(0, HEADER_LIMIT);
      try {
        return libmime.decodeWords(raw);
      } catch {
        return raw;
      }
    });
    into.set(key, values);
  }
}

/** A text part's octets as text in its charset (UTF-8 when the charset is unknown). */
function decodeText(buf: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.trim().toLowerCase()).decode(buf);
  } catch {
    return new TextDecoder('utf-8').decode(buf);
  }
}
