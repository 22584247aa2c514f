// RFC 5321 paths ("<user@example.com>") as they arrive in MAIL FROM and RCPT
// TO, and as an admin types them on the command line. The relay rules decide
// on what this returns, so the parser is strict on purpose: a lenient reading
// of "user@victim.example@ours" or "user%victim.example@ours" is how relays
// become open. Every step is a left-to-right scan, so hostile input cannot
// cost more than linear time.

import { isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';

export type PathResult =
  | { ok: true; kind: 'null' }
  | { ok: true; kind: 'postmaster'; local: string }
  | { ok: true; kind: 'mailbox'; mailbox: Mailbox }
  | { ok: false; reason: string; routing: boolean };

export interface Mailbox {
  /** Local part exactly as given (quotes kept), never case-folded. */
  local: string;
  /** Local part with quoting and escapes removed. */
  localUnquoted: string;
  quoted: boolean;
  /** Lower-case, trailing dot removed; for an address literal "[192.0.2.7]" or "[ipv6:2001:db8::1]". */
  domain: string;
  /** The IP text of an address literal, else null. */
  literal: string | null;
  /** Domains of a source route "@a,@b:", normalised; [] when there is none. */
  sourceRoute: string[];
  /** Routing operators the local part carries: '%', '!', '@' (the last only possible when quoted). */
  routingOperators: string[];
  /** Non-ASCII somewhere in the path: needs SMTPUTF8. */
  utf8: boolean;
  /** `${local}@${domain}` with the normalised domain. */
  address: string;
  /**
   * The mailbox as sent, source route dropped and the domain's one trailing
   * dot removed: what we store and pass on. The local part and the domain's
   * case stay as the client wrote them; the dot goes because the rules decided
   * on the domain without it, and "v@example.com." is not a name every next
   * hop accepts or reads as the same domain.
   */
  given: string;
}

export interface PathOptions {
  /** Accept "<>" (MAIL FROM). */
  allowNull?: boolean;
  /** When true the "<" ">" are mandatory (wire input); otherwise a bare address is accepted too (CLI input). */
  requireBrackets?: boolean;
}

/** RFC 5321 4.5.3.1 limits, in UTF-8 octets. */
export const MAX_LOCAL_OCTETS = 64;
export const MAX_DOMAIN_OCTETS = 255;
export const MAX_PATH_OCTETS = 256;
const MAX_LABEL_OCTETS = 63;

export type DomainCheck = { ok: true; domain: string; utf8: boolean } | { ok: false; reason: string };

type Failure = { ok: false; reason: string; routing: boolean };
type MailboxResult = { ok: true; mailbox: Mailbox } | Failure;

const AT = 0x40;
const DOT = 0x2e;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const HYPHEN = 0x2d;
const OPERATORS = ['%', '!', '@'] as const;
const ATEXT_SPECIALS = new Set("!#$%&'*+-/=?^_`{|}~".split('').map((c) => c.charCodeAt(0)));
const A_LABEL = /^xn--[a-z0-9-]*[a-z0-9]$/;

function fail(reason: string, routing = false): Failure {
  return { ok: false, reason, routing };
}

/** Lower-case and strip one trailing dot, without validating. */
export function normaliseDomain(domain: string): string {
  return (domain.endsWith('.') ? domain.slice(0, -1) : domain).toLowerCase();
}

/**
 * The form two domains are compared in: normalised and in A-labels, so that
 * `bücher.example` and `xn--bcher-kva.example` are the same domain.
 */
export function domainKey(domain: string): string {
  const d = normaliseDomain(domain);
  if (/^[\x00-\x7f]*$/.test(d)) return d;
  return domainToASCII(d) || d;
}

/** A host or domain name as RFC 5321 "Domain" allows it (one trailing dot tolerated). */
export function isDomainName(text: string): boolean {
  return typeof text === 'string' && checkDomain(text).ok;
}

export function parsePath(input: string, opts: PathOptions = {}): PathResult {
  // The relay rules must get an answer for any byte string a client sends;
  // an exception here would drop the session instead of refusing the path.
  try {
    return parseOuter(input, opts);
  } catch {
    return fail('unparseable path');
  }
}

function parseOuter(input: string, opts: PathOptions): PathResult {
  if (typeof input !== 'string') return fail('path is not a string');
  if (input === '') return fail('empty path');
  if (/\s/.test(input.charAt(0)) || /\s/.test(input.charAt(input.length - 1))) {
    const trimmed = input.trim();
    const core = trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed.slice(1, -1) : trimmed;
    return fail('whitespace around the path', routingHint(core));
  }
  const open = input.charAt(0) === '<';
  const close = input.length > 1 && input.charAt(input.length - 1) === '>';
  if (open && !close) return fail('missing ">" at the end of the path', routingHint(input.slice(1)));
  if (!open && input.endsWith('>')) return fail('">" without "<"', routingHint(input.slice(0, -1)));
  // On the wire a bare address is a syntax error, but the routing flag still
  // says whether it was also an attempt to relay.
  if (!open && opts.requireBrackets === true) return fail('path must be enclosed in "<" and ">"', routingHint(input));
  const core = open ? input.slice(1, -1) : input;
  if (core === '') return opts.allowNull === true ? { ok: true, kind: 'null' } : fail('null path not allowed here');
  return parseCore(core);
}

/** Whether the text between the brackets carries a routing operator. */
function routingHint(core: string): boolean {
  const r = parseCore(core);
  return r.ok ? r.kind === 'mailbox' && r.mailbox.routingOperators.length > 0 : r.routing;
}

/** The path without its "<" ">". */
function parseCore(core: string): PathResult {
  if (core === '') return fail('empty path');
  // RFC 5321 4.5.1: "<Postmaster>" without a domain, exactly that word.
  if (core.length === 10 && /^[A-Za-z]+$/.test(core) && core.toLowerCase() === 'postmaster') {
    return { ok: true, kind: 'postmaster', local: core };
  }
  let route: string[] = [];
  let routeUtf8 = false;
  let text = core;
  if (core.charCodeAt(0) === AT) {
    const r = parseSourceRoute(core);
    if (r !== null) {
      if (!r.ok) return fail(r.reason);
      if (r.rest === '') return fail('missing mailbox after the source route');
      route = r.hops;
      routeUtf8 = r.utf8;
      text = r.rest;
    }
  }
  const mb = parseMailbox(text, route, routeUtf8);
  if (!mb.ok) return mb;
  if (octets(core) + 2 > MAX_PATH_OCTETS) {
    return fail(`path longer than ${MAX_PATH_OCTETS} octets`, mb.mailbox.routingOperators.length > 0);
  }
  return { ok: true, kind: 'mailbox', mailbox: mb.mailbox };
}

type RouteResult = { ok: true; hops: string[]; rest: string; utf8: boolean } | { ok: false; reason: string };

/**
 * A-d-l ":" at the start of `core`. Null when there is no ":" or "," after the
 * first "@" at all: then the text is a mailbox with an empty local part (or
 * several "@"), which the mailbox parser explains better.
 */
function parseSourceRoute(core: string): RouteResult | null {
  const hops: string[] = [];
  let utf8 = false;
  let i = 0;
  for (;;) {
    let j = i + 1;
    while (j < core.length) {
      const c = core.charCodeAt(j);
      if (c === COMMA || c === COLON) break;
      j++;
    }
    if (j >= core.length) return hops.length === 0 ? null : { ok: false, reason: 'source route not ended by ":"' };
    const d = checkDomain(core.slice(i + 1, j));
    if (!d.ok) return { ok: false, reason: `source route: ${d.reason}` };
    hops.push(d.domain);
    utf8 ||= d.utf8;
    if (core.charCodeAt(j) === COLON) return { ok: true, hops, rest: core.slice(j + 1), utf8 };
    i = j + 1;
    if (core.charCodeAt(i) !== AT) return { ok: false, reason: 'source route: every hop must start with "@"' };
  }
}

/** Index of the DQUOTE closing a quoted string that opens at 0, or -1. */
function quoteEnd(text: string): number {
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === DQUOTE) return i;
  }
  return -1;
}

function parseMailbox(text: string, sourceRoute: string[], routeUtf8: boolean): MailboxResult {
  // A second "@" outside the quoted local part is the classic
  // "user@victim@ours" relay trick; refuse it before anything else so the
  // caller learns it was routing even when the rest is also malformed.
  const qEnd = text.charCodeAt(0) === DQUOTE ? quoteEnd(text) : -1;
  const scanFrom = text.charCodeAt(0) === DQUOTE ? (qEnd < 0 ? text.length : qEnd + 1) : 0;
  let firstAt = -1;
  for (let i = scanFrom; i < text.length; i++) {
    if (text.charCodeAt(i) !== AT) continue;
    if (firstAt >= 0) return fail('more than one @ outside quotes', true);
    firstAt = i;
  }
  const localText = firstAt < 0 ? text : text.slice(0, firstAt);
  const local = scanLocal(localText);
  if (!local.ok) return fail(local.reason, localLooksRouted(localText));
  const routingOperators = OPERATORS.filter((op) => local.unquoted.includes(op));
  const routing = routingOperators.length > 0;
  if (octets(localText) > MAX_LOCAL_OCTETS) return fail(`local part longer than ${MAX_LOCAL_OCTETS} octets`, routing);
  if (firstAt < 0) return fail('missing domain', routing);
  const domainText = text.slice(firstAt + 1);
  if (domainText === '') return fail('missing domain', routing);

  let domain: string;
  let literal: string | null = null;
  let domainUtf8 = false;
  if (domainText.charCodeAt(0) === 0x5b) {
    const lit = parseAddressLiteral(domainText);
    if (!lit.ok) return fail(lit.reason, routing);
    domain = lit.domain;
    literal = lit.literal;
  } else {
    const d = checkDomain(domainText);
    if (!d.ok) return fail(d.reason, routing);
    domain = d.domain;
    domainUtf8 = d.utf8;
  }
  return {
    ok: true,
    mailbox: {
      local: localText,
      localUnquoted: local.unquoted,
      quoted: local.quoted,
      domain,
      literal,
      sourceRoute,
      routingOperators,
      utf8: routeUtf8 || local.utf8 || domainUtf8,
      address: `${localText}@${domain}`,
      given: literal === null && domainText.endsWith('.') ? text.slice(0, -1) : text,
    },
  };
}

/** For a local part that did not parse: does it still plainly carry an operator? */
function localLooksRouted(text: string): boolean {
  if (text.includes('%') || text.includes('!')) return true;
  return text.charCodeAt(0) === DQUOTE && text.includes('@');
}

type LocalResult = { ok: true; unquoted: string; quoted: boolean; utf8: boolean } | { ok: false; reason: string };

function scanLocal(text: string): LocalResult {
  if (text === '') return { ok: false, reason: 'empty local part' };
  return text.charCodeAt(0) === DQUOTE ? scanQuoted(text) : scanDotString(text);
}

function scanQuoted(text: string): LocalResult {
  let out = '';
  let utf8 = false;
  let i = 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === DQUOTE) {
      if (i !== text.length - 1) return { ok: false, reason: 'local part continues after the closing quote' };
      return { ok: true, unquoted: out, quoted: true, utf8 };
    }
    if (c === BACKSLASH) {
      if (i + 1 >= text.length) break;
      const d = text.charCodeAt(i + 1);
      // quoted-pairSMTP stays ASCII-only even under RFC 6531.
      if (d < 0x20 || d > 0x7e) return { ok: false, reason: 'backslash must be followed by a printable ASCII character' };
      out += text.charAt(i + 1);
      i += 2;
      continue;
    }
    if (c < 0x20 || c === 0x7f) return { ok: false, reason: `${describe(c)} in the local part` };
    if (c < 0x80) {
      out += text.charAt(i);
      i++;
      continue;
    }
    const n = nonAsciiLength(text, i, true);
    if (typeof n === 'string') return { ok: false, reason: `${n} in the local part` };
    out += text.slice(i, i + n);
    utf8 = true;
    i += n;
  }
  return { ok: false, reason: 'unterminated quoted string' };
}

function scanDotString(text: string): LocalResult {
  let utf8 = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (i === 0) return { ok: false, reason: 'local part starts with a dot' };
      if (text.charCodeAt(i - 1) === DOT) return { ok: false, reason: 'two consecutive dots in the local part' };
      i++;
      continue;
    }
    if (c >= 0x80) {
      const n = nonAsciiLength(text, i, false);
      if (typeof n === 'string') return { ok: false, reason: `${n} in the local part` };
      utf8 = true;
      i += n;
      continue;
    }
    if (!isAsciiAtext(c)) {
      if (c === 0x20) return { ok: false, reason: 'space outside quotes' };
      if (c === DQUOTE) return { ok: false, reason: 'quote inside an unquoted local part' };
      if (c < 0x20 || c === 0x7f) return { ok: false, reason: `${describe(c)} in the local part` };
      return { ok: false, reason: `${describe(c)} not allowed in an unquoted local part` };
    }
    i++;
  }
  if (text.charCodeAt(text.length - 1) === DOT) return { ok: false, reason: 'local part ends with a dot' };
  return { ok: true, unquoted: text, quoted: false, utf8 };
}

/** Validates an RFC 5321 Domain (no address literal) and returns it normalised. */
export function checkDomain(text: string): DomainCheck {
  const bad = (reason: string): DomainCheck => ({ ok: false, reason });
  if (text === '') return bad('missing domain');
  const body = text.endsWith('.') ? text.slice(0, -1) : text;
  if (body === '') return bad('empty label in domain');
  const labels = body.split('.');
  let utf8 = false;
  let idna = false;
  for (const label of labels) {
    if (label === '') return bad('empty label in domain');
    let nonAscii = false;
    for (let i = 0; i < label.length; ) {
      const c = label.charCodeAt(i);
      if (c >= 0x80) {
        const n = nonAsciiLength(label, i, false);
        if (typeof n === 'string') return bad(`${n} in domain`);
        nonAscii = true;
        i += n;
        continue;
      }
      if (!isLetDig(c) && c !== HYPHEN) {
        return bad(c < 0x20 || c === 0x7f ? `${describe(c)} in domain` : `${describe(c)} not allowed in domain`);
      }
      i++;
    }
    if (label.charCodeAt(0) === HYPHEN) return bad('domain label starts with a hyphen');
    if (label.charCodeAt(label.length - 1) === HYPHEN) return bad('domain label ends with a hyphen');
    if (!nonAscii && label.length > MAX_LABEL_OCTETS) return bad(`domain label longer than ${MAX_LABEL_OCTETS} octets`);
    utf8 ||= nonAscii;
    idna ||= nonAscii || /^xn--/i.test(label);
  }
  // An all-numeric top-level label is never a registered name (RFC 3696 2);
  // "user@192.0.2.7" would dodge the address-literal rules.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return bad('top-level domain label is all digits (write an IP address as [a.b.c.d])');
  if (octets(body) > MAX_DOMAIN_OCTETS) return bad(`domain longer than ${MAX_DOMAIN_OCTETS} octets`);
  if (idna) {
    let asciiLength = labels.length - 1;
    for (const label of labels) {
      const a = idnaLabel(label);
      if (a === null) return bad(`"${label}" is not a valid internationalised domain label`);
      if (a.length > MAX_LABEL_OCTETS) return bad(`domain label longer than ${MAX_LABEL_OCTETS} octets in ASCII form`);
      asciiLength += a.length;
    }
    if (asciiLength > MAX_DOMAIN_OCTETS) return bad(`domain longer than ${MAX_DOMAIN_OCTETS} octets in ASCII form`);
  }
  return { ok: true, domain: body.toLowerCase(), utf8 };
}

/**
 * The A-label for a label, or null when it is not a proper IDNA label. A
 * U-label must already be in the form it decodes back to: full-width letters,
 * soft hyphens or unnormalised accents would otherwise give two spellings of
 * one DNS name, and only one of them would match a local domain.
 */
function idnaLabel(label: string): string | null {
  const lower = label.toLowerCase();
  const isAscii = /^[\x00-\x7f]*$/.test(lower);
  if (isAscii && !lower.startsWith('xn--')) return lower;
  const a = isAscii ? lower : domainToASCII(lower);
  if (!A_LABEL.test(a)) return null;
  const u = domainToUnicode(a);
  if (u === '' || u === a || domainToASCII(u) !== a) return null;
  if (!isAscii && u !== lower) return null;
  return a;
}

type LiteralResult = { ok: true; domain: string; literal: string } | { ok: false; reason: string };

function parseAddressLiteral(text: string): LiteralResult {
  const bad = (reason: string): LiteralResult => ({ ok: false, reason });
  const end = text.indexOf(']');
  if (end < 0) return bad('unterminated address literal');
  if (end !== text.length - 1) return bad('text after the address literal');
  const content = text.slice(1, -1);
  if (content === '') return bad('empty address literal');
  // The longest legitimate content is "IPv6:" plus a 45-character address.
  if (content.length > 64) return bad('invalid address literal');
  const colon = content.indexOf(':');
  if (colon < 0) {
    if (!isStrictIPv4(content)) return bad('invalid IPv4 address literal');
    return { ok: true, domain: `[${content}]`, literal: content };
  }
  const tag = content.slice(0, colon);
  const value = content.slice(colon + 1);
  if (tag.toLowerCase() === 'ipv6') {
    if (value.includes('%')) return bad('IPv6 zone id not allowed in an address literal');
    if (!isIPv6(value)) return bad('invalid IPv6 address literal');
    const literal = value.toLowerCase();
    return { ok: true, domain: `[ipv6:${literal}]`, literal };
  }
  if (isIPv6(content)) return bad('IPv6 address literal needs the "IPv6:" tag');
  if (/^[A-Za-z0-9-]*[A-Za-z0-9]$/.test(tag)) return bad(`unsupported address literal tag "${tag}"`);
  return bad('invalid address literal');
}

/** Dotted quad, four decimal octets 0-255 without leading zeros. */
export function isStrictIPv4(text: string): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

function isLetDig(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isAsciiAtext(c: number): boolean {
  return isLetDig(c) || ATEXT_SPECIALS.has(c);
}

function isUnicodeSpace(c: number): boolean {
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * For a non-ASCII code unit at `i`: how many UTF-16 units the character
 * takes, or why it is refused. C1 controls are controls; an unpaired
 * surrogate has no UTF-8 form at all.
 */
function nonAsciiLength(text: string, i: number, allowSpace: boolean): number | string {
  const c = text.charCodeAt(i);
  if (c <= 0x9f) return describe(c);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = text.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff ? 2 : 'unpaired UTF-16 surrogate';
  }
  if (c >= 0xdc00 && c <= 0xdfff) return 'unpaired UTF-16 surrogate';
  if (!allowSpace && isUnicodeSpace(c)) return `space character ${hex(c)} outside quotes`;
  return 1;
}

function hex(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

function describe(c: number): string {
  if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) return `control character ${hex(c)}`;
  if (c === 0x20) return 'space';
  return JSON.stringify(String.fromCharCode(c));
}

function octets(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
