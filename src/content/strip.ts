// The strip action of the content rules (issue 21): the message with some
// parts taken out and one text part added that says what went and why,
// streaming (Splitter → this walk → bytes) so that a 50 MB message keeps
// memory flat. Only what must change changes: a removed part goes with its
// delimiter line, every other octet (header sections, the other parts,
// boundaries, preambles and epilogues) passes through as stored.
//
// Where the notice goes:
// - a multipart/mixed root (or any multipart other than the two below): as
//   its last child, before the closing delimiter;
// - a multipart/alternative or multipart/related root: a mail client shows
//   ONE alternative (the last it can render), so a text/plain notice added as
//   the last alternative would replace the message on screen, and one added
//   in front would never be seen; a related root shows its first part and
//   treats the rest as resources. So the root becomes multipart/mixed (only
//   its Content-Type field changes) holding the old root's body as its first
//   part (headed by the old Content-Type field) and the notice as its second.
//
// Refused (the caller quarantines instead): the root (nothing would be left),
// a part that is the whole body of an attached message (its parent is no
// multipart: strip the message/rfc822 part itself), any part under a
// multipart/signed or multipart/encrypted (the result would read as
// tampered with), a part number the message does not have, and a structure
// that does not close where it should.
//
// Part numbers follow src/content/content-types.ts, with PART_SPLIT_OPTIONS:
// the inspection must split with the same options for the numbers to agree.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mailsplit from '@zone-eu/mailsplit';
import type { SplitterChunk } from '@zone-eu/mailsplit';
import type { MessageSource } from '../scan/spam-verdict.ts';
import type { StripPart } from './content-types.ts';
import { boundariesClash, findDelimiter, freshBoundary, noticePart, splitLead, wrapRootHead } from './strip-mime.ts';

const { Splitter } = mailsplit;

type MimeNode = InstanceType<typeof mailsplit.MimeNode>;

/** The Splitter options the part numbering is defined with (inspection and strip alike). */
export const PART_SPLIT_OPTIONS = { defaultInlineEmbedded: true, maxHeadSize: 1024 * 1024 } as const;

/** Output is handed on in pieces of about this size (a spool write each). */
const BATCH = 64 * 1024;

const WRAPPED_ROOTS = new Set(['alternative', 'related']);
const SEALED = new Set(['signed', 'encrypted']);

/** Why a strip cannot be done; the caller quarantines the message instead. */
export class StripRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StripRefused';
  }
}

const CRLF = Buffer.from('\r\n');

/**
 * The message of `source` without `parts` (numbered as content-types.ts
 * says), with a text/plain part holding `notice`. Throws StripRefused (from
 * the iteration) for a part that cannot be removed; a read error of the
 * source surfaces as it is.
 */
export async function* stripParts(source: MessageSource, parts: readonly StripPart[], notice: string): AsyncIterable<Buffer> {
  const targets = new Set<number>();
  for (const p of parts) {
    if (!Number.isInteger(p.index) || p.index < 1) throw new StripRefused(`part ${p.index} is no part number`);
    if (p.index === 1) throw new StripRefused('part 1 is the whole message: it cannot be stripped');
    targets.add(p.index);
  }
  if (targets.size === 0) throw new StripRefused('no part to strip');

  const splitter = new Splitter(PART_SPLIT_OPTIONS);
  // The feed's failure also destroys the splitter, whose iteration then throws it.
  const fed = pipeline(Readable.from(source.chunks()), splitter).then(
    () => null,
    (err: unknown) => err,
  );
  const walk = new StripWalk(targets, noticePart(notice));
  let out: Buffer[] = [];
  let outBytes = 0;
  try {
    for await (const chunk of splitter as AsyncIterable<SplitterChunk>) {
      for (const b of walk.take(chunk)) {
        out.push(b);
        outBytes += b.length;
      }
      if (outBytes >= BATCH) {
        const batch = Buffer.concat(out, outBytes);
        out = [];
        outBytes = 0;
        yield batch;
      }
    }
    const err = await fed;
    if (err) throw err;
    for (const b of walk.finish()) {
      out.push(b);
      outBytes += b.length;
    }
    if (outBytes > 0) yield Buffer.concat(out, outBytes);
  } catch (err) {
    // A structure mailsplit will not read (a header block or a part count over its limits) will not change: refused,
    // not retried. A source that cannot be read is for a retry and surfaces as it is.
    if ((err as { code?: unknown }).code === 'EMAXLEN') throw new StripRefused(`the MIME structure cannot be read: ${(err as Error).message}`);
    throw err;
  } finally {
    // A consumer that stops early (or a refusal) must not leave the source open.
    splitter.destroy();
    await fed;
  }
}

/**
 * The walk over mailsplit's objects: decides, object by object, what goes
 * out. A removed part is cut from the first octet of its delimiter line to
 * the first octet of the next delimiter line of its parent (or of any
 * multipart above it): the line break in front of the first stays, the one
 * in front of the second (the end of the removed part) goes.
 */
class StripWalk {
  private readonly targets: Set<number>;
  private readonly notice: Buffer;
  private index = 0;
  private root: MimeNode | null = null;
  /** Nodes whose header section came (a delimiter line of a node not yet seen opens it). */
  private readonly seen = new WeakSet<MimeNode>();
  private readonly removed = new WeakSet<MimeNode>();
  private readonly found = new Set<number>();
  /** The delimiter line that opens a node whose header section has not come yet. */
  private held: { node: MimeNode; value: Buffer } | null = null;
  /** While a removed part's octets go by: the boundaries of the multiparts above it, whose next delimiter ends it. */
  private dropping: Buffer[] | null = null;
  /** Whether the next octet of the message starts a line. */
  private atLineStart = true;
  /** The wrap's boundary (alternative or related root), or null. */
  private wrap: string | null = null;
  private noticeDone = false;

  constructor(targets: Set<number>, notice: Buffer) {
    this.targets = targets;
    this.notice = notice;
  }

  take(chunk: SplitterChunk): Buffer[] {
    const out: Buffer[] = [];
    if (this.held && !(chunk.type === 'node' && chunk === this.held.node)) this.release(out);
    if (chunk.type === 'node') {
      this.node(chunk, out);
      this.atLineStart = true;
      return out;
    }
    let value = chunk.value;
    let lineStart = this.atLineStart;
    if (value.length) this.atLineStart = value[value.length - 1] === 0x0a;
    if (chunk.type === 'data' && !this.seen.has(chunk.node)) {
      // The delimiter line opening a part (mailsplit hands it over alone):
      // kept or cut with the part it opens, known when its header comes.
      const parent = chunk.node.parentNode;
      if (this.dropping) {
        if (parent && this.removed.has(parent)) return out;
        // A sibling (or a part further up) opens: the removed part ends before its "--".
        this.dropping = null;
        value = splitLead(value).rest;
      }
      this.held = { node: chunk.node, value };
      return out;
    }
    if (this.dropping) {
      if (chunk.type === 'body') return out;
      const at = findDelimiter(value, lineStart, this.dropping, false);
      if (at < 0) return out;
      this.dropping = null;
      value = value.subarray(at);
      lineStart = true;
    }
    if (chunk.type === 'data' && this.root && !this.wrap && !this.noticeDone) this.rootData(value, lineStart, out);
    else out.push(value);
    return out;
  }

  finish(): Buffer[] {
    const out: Buffer[] = [];
    if (this.held) this.release(out);
    const missing = [...this.targets].filter((i) => !this.found.has(i));
    if (missing.length) throw new StripRefused(`the message has no part ${missing.join(', ')}`);
    const root = this.root;
    if (!root?.multipart || !root._boundary) throw new StripRefused('the message is no multipart');
    if (this.wrap) {
      out.push(Buffer.from(`\r\n--${this.wrap}\r\n`), this.notice, Buffer.from(`\r\n--${this.wrap}--\r\n`));
    } else if (!this.noticeDone) {
      // The root multipart never closed: close it after the notice.
      const b = root._boundary.toString('latin1');
      out.push(Buffer.from(`\r\n--${b}\r\n`), this.notice, Buffer.from(`\r\n--${b}--\r\n`));
    }
    return out;
  }

  private node(node: MimeNode, out: Buffer[]): void {
    this.index++;
    this.seen.add(node);
    const index = this.index;
    const parent = node.parentNode || null;
    if (this.noticeDone) throw new StripRefused('the message has parts after the end of its root multipart');
    this.checkBoundary(node);
    if (!parent) {
      this.root = node;
      this.rootHead(node, out);
      return;
    }
    const inRemoved = this.removed.has(parent);
    const target = this.targets.has(index);
    if (target) {
      this.found.add(index);
      if (!inRemoved) this.checkRemovable(node, index);
    }
    if (!inRemoved && !target) {
      if (this.held) this.release(out);
      out.push(node.getHeaders());
      return;
    }
    this.removed.add(node);
    if (inRemoved) return;
    // A removal starts: the line break in front of its delimiter stays, the rest goes.
    if (this.held?.node !== node) throw new StripRefused(`part ${index} has no delimiter line of its own`);
    out.push(splitLead(this.held.value).lead);
    this.held = null;
    const above: Buffer[] = [];
    for (let p: MimeNode | false = parent; p; p = p.parentNode) if (p.multipart && p._boundary) above.push(p._boundary);
    this.dropping = above;
  }

  private checkRemovable(node: MimeNode, index: number): void {
    const parent = node.parentNode as MimeNode;
    if (!parent.multipart) throw new StripRefused(`part ${index} is the body of an attached message: only the message/rfc822 part as a whole can be stripped`);
    for (let p: MimeNode | false = parent; p; p = p.parentNode) {
      if (p.multipart && SEALED.has(p.multipart)) throw new StripRefused(`part ${index} is inside a multipart/${p.multipart} part: removing it would break its signature or encryption`);
    }
  }

  /** A multipart whose boundary could be read as one of a multipart around it: which delimiter is whose would be a guess. */
  private checkBoundary(node: MimeNode): void {
    const own = node.multipart ? node._boundary : false;
    if (!own) return;
    for (let p: MimeNode | false = node.parentNode; p; p = p.parentNode) {
      if (p._boundary && boundariesClash(own, p._boundary)) throw new StripRefused(`part ${this.index} has a boundary that clashes with the boundary of a multipart around it`);
    }
  }

  private rootHead(node: MimeNode, out: Buffer[]): void {
    const head = node.getHeaders();
    if (node.multipart && WRAPPED_ROOTS.has(node.multipart)) {
      this.wrap = freshBoundary();
      const w = wrapRootHead(head, this.wrap);
      out.push(w.head, Buffer.from(`--${this.wrap}\r\n`), w.contentType, CRLF);
      return;
    }
    out.push(head);
  }

  /**
   * Multipart structure while the root is open: the notice goes in front of
   * the root's closing delimiter (which mailsplit may hand over run together
   * with an inner multipart's epilogue, whatever node it names).
   */
  private rootData(value: Buffer, lineStart: boolean, out: Buffer[]): void {
    const boundary = (this.root as MimeNode)._boundary;
    const at = boundary ? findDelimiter(value, lineStart, [boundary], true) : -1;
    if (at < 0 || !boundary) {
      out.push(value);
      return;
    }
    // The line break in front of the delimiter ends the notice; the one before it ends the last part.
    out.push(value.subarray(0, at), Buffer.from(`--${boundary.toString('latin1')}\r\n`), this.notice, CRLF, value.subarray(at));
    this.noticeDone = true;
  }

  private release(out: Buffer[]): void {
    const held = this.held as { node: MimeNode; value: Buffer };
    this.held = null;
    out.push(held.value);
  }
}
