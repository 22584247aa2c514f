// The byte-level pieces of the strip action (src/content/strip.ts), kept
// pure: splitting a delimiter line from the line break in front of it,
// recognising a closing delimiter, cutting one field out of a raw header
// section without touching the others, and building the notice part.
// Nothing here reads a stream.

import { randomBytes } from 'node:crypto';

const CR = 0x0d;
const LF = 0x0a;

/**
 * The line break mailsplit hands over at the front of a delimiter line (the
 * one that ends the previous part's body belongs to the delimiter, RFC 2046
 * §5.1.1), and the rest of the line.
 */
export function splitLead(line: Buffer): { lead: Buffer; rest: Buffer } {
  // CRLF, a lone LF or a lone CR (as mailsplit's checkBoundary() allows): one line break at most.
  const n = line[0] === CR && line[1] === LF ? 2 : line[0] === CR || line[0] === LF ? 1 : 0;
  return { lead: line.subarray(0, n), rest: line.subarray(n) };
}

/** The most SP and HTAB mailsplit accepts after a boundary (its BOUNDARY_LINE_TRAILING_WSP). */
const MAX_WSP = 998;

/**
 * Whether the line at `at` (up to `end`, its LF included when there is one)
 * is a delimiter of `boundary`, judged as mailsplit's compareBoundary()
 * judges it: `--boundary` or `--boundary--`, SP/HTAB, CRs, LF; only a
 * closing one may lack its line break (the end of the message).
 */
function delimiterKind(buf: Buffer, at: number, end: number, boundary: Buffer): 0 | 1 | 2 {
  const n = boundary.length;
  const len = end - at;
  if (len < n + 2 || len > n + 4 + MAX_WSP + 2 || buf[at] !== 0x2d || buf[at + 1] !== 0x2d) return 0;
  for (let i = 0; i < n; i++) if (buf[at + 2 + i] !== boundary[i]) return 0;
  let i = at + 2 + n;
  let kind: 1 | 2 = 1;
  if (buf[i] === 0x2d) {
    if (buf[i + 1] !== 0x2d) return 0;
    kind = 2;
    i += 2;
  }
  while (i < end && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  if (i === end) return kind === 2 ? 2 : 0;
  while (i < end && buf[i] === CR) i++;
  if (i < end && buf[i] === LF) i++;
  return i === end ? kind : 0;
}

/**
 * Where, in a chunk of multipart structure (mailsplit's `data`: preambles,
 * closing delimiters, epilogues, which it may hand over run together), the
 * first delimiter line of one of `boundaries` starts: the offset of its
 * "--" (a lone CR in front stays before it), or -1. `atLineStart` says
 * whether the chunk begins a line (else its first line is the end of one).
 */
export function findDelimiter(value: Buffer, atLineStart: boolean, boundaries: readonly Buffer[], closeOnly: boolean): number {
  let start = 0;
  if (!atLineStart) {
    const nl = value.indexOf(LF);
    if (nl < 0) return -1;
    start = nl + 1;
  }
  while (start < value.length) {
    const nl = value.indexOf(LF, start);
    const end = nl < 0 ? value.length : nl + 1;
    const at = value[start] === CR && value[start + 1] !== LF ? start + 1 : start;
    for (const b of boundaries) {
      const kind = delimiterKind(value, at, end, b);
      if (kind === 2 || (kind === 1 && !closeOnly)) return at;
    }
    start = end;
  }
  return -1;
}

/**
 * Whether two boundaries could claim the same delimiter line (one equal to
 * the other, or the other continuing it with "-", SP or HTAB): a nested
 * multipart with such a boundary is refused, so that every delimiter line
 * has one owner, for mailsplit and for this module alike.
 */
export function boundariesClash(a: Buffer, b: Buffer): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  if (!long.subarray(0, short.length).equals(short)) return false;
  if (long.length === short.length) return true;
  const next = long[short.length];
  return next === 0x2d || next === 0x20 || next === 0x09;
}

/** One header field with its folded continuation lines, as raw octets. */
export function headerFields(head: Buffer): Buffer[] {
  const fields: Buffer[] = [];
  let start = 0;
  let pos = 0;
  while (pos < head.length) {
    const nl = head.indexOf(LF, pos);
    const end = nl < 0 ? head.length : nl + 1;
    const next = head[end];
    pos = end;
    // A line starting with SP or HTAB continues the field (RFC 5322 §2.2.3).
    if (end < head.length && (next === 0x20 || next === 0x09)) continue;
    fields.push(head.subarray(start, end));
    start = end;
  }
  return fields;
}

const isBlankLine = (b: Buffer): boolean => (b.length === 2 && b[0] === CR && b[1] === LF) || (b.length === 1 && b[0] === LF);

const fieldName = (field: Buffer): string => {
  const colon = field.indexOf(0x3a);
  return colon < 0 ? '' : field.subarray(0, colon).toString('latin1').trim().toLowerCase();
};

/**
 * The root's header section for the wrap (a multipart/alternative or related
 * root gets a new multipart/mixed around it, see strip.ts): its first
 * Content-Type field replaced in place by `multipart/mixed` with `boundary`,
 * every other field as it was. Returns the new section and the field taken
 * out (it heads the wrapped part).
 */
export function wrapRootHead(head: Buffer, boundary: string): { head: Buffer; contentType: Buffer } {
  const fields = headerFields(head);
  const at = fields.findIndex((f) => fieldName(f) === 'content-type');
  if (at < 0) throw new Error('the multipart root has no Content-Type field');
  let contentType = fields[at] as Buffer;
  if (contentType[contentType.length - 1] !== LF) contentType = Buffer.concat([contentType, Buffer.from('\r\n')]);
  const replaced = Buffer.from(`Content-Type: multipart/mixed; boundary="${boundary}"\r\n`);
  const out = [...fields.slice(0, at), replaced, ...fields.slice(at + 1)];
  if (!out.length || !isBlankLine(out[out.length - 1] as Buffer)) out.push(Buffer.from('\r\n'));
  return { head: Buffer.concat(out), contentType };
}

/** A boundary for the wrap that no line of a message may be assumed to hold. */
export function freshBoundary(): string {
  return `mailwarden-strip-${randomBytes(12).toString('hex')}`;
}

/**
 * The notice as a complete MIME part (header section, blank line, body),
 * without the line break that ends it (that belongs to the next delimiter).
 * Plain ASCII with short lines goes as 7bit; anything else, and any line
 * that could be mistaken for a delimiter, as base64.
 */
export function noticePart(notice: string): Buffer {
  const lines = notice.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  const plain = /^[\x20-\x7e\t\n]*$/.test(lines.join('\n')) && lines.every((l) => l.length <= 900 && !l.startsWith('-'));
  const head = ['Content-Type: text/plain; charset=utf-8', `Content-Transfer-Encoding: ${plain ? '7bit' : 'base64'}`, 'Content-Disposition: inline'];
  let body: string;
  if (plain) {
    body = lines.join('\r\n');
  } else {
    const b64 = Buffer.from(lines.join('\r\n') + '\r\n', 'utf8').toString('base64');
    body = (b64.match(/.{1,76}/g) ?? []).join('\r\n');
  }
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'utf8');
}

/** The notice's text from what was removed: one line per part, for a caller that has no text of its own. */
export function noticeText(reasons: readonly string[]): string {
  const lines = ['This message was changed by the mail gateway: parts of it were removed by the content policy.', ''];
  for (const r of reasons) lines.push(`- ${r}`);
  return lines.join('\n');
}
