// The origin of a message that came through our upstream hosts (rule 9):
// walk the Received headers from the top, each naming the host that handed
// the message to the one that wrote it, past every hop an upstream host
// wrote, to the first address that is not an upstream host. Only headers
// written by upstream hosts are believed: the walk stops at the first
// outside address, and a header it cannot read stops it too (the last
// address known is used, and the caller logs why).

export interface OriginResult {
  /** The address the checks use. */
  origin: string;
  /** Addresses walked past (upstream hosts), from the connecting one. */
  via: string[];
  /** Set when the walk stopped early and `origin` is the last address known. */
  fallback: string | null;
  /** Index (from the top) of the Received header that named the origin, when one did. */
  headerIndex?: number;
}

const V4 = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}`;
const V6 = String.raw`[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+`;
const LITERAL = new RegExp(String.raw`^\[(?:IPv6:)?(${V4}|${V6})\]$`, 'i');
const BRACKETED = new RegExp(String.raw`\[(?:IPv6:)?(${V4}|${V6})\]`, 'i');
const BARE_IN_PARENS = new RegExp(String.raw`^(?:IPv6:)?(${V4}|${V6})$`, 'i');

export interface ReceivedFrom {
  /** The address of the host that connected (what the writer saw on the socket). */
  address: string;
  /** The name it greeted with, when the header says. */
  helo: string | null;
}

/** The text of the "from" clause: up to " by ", a ";" or the end, outside comments. */
function fromClause(text: string): string | null {
  const m = /^from\s+/i.exec(text);
  if (!m) return null;
  let depth = 0;
  for (let i = m[0].length; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0 && (c === ';' || /^\sby\s/i.test(text.slice(i, i + 4)))) return text.slice(m[0].length, i).trim();
  }
  return text.slice(m[0].length).trim();
}

/** The first comment of the clause (balanced parentheses), without its outer parentheses. */
function firstComment(rest: string): string | null {
  const open = rest.indexOf('(');
  if (open < 0) return null;
  let depth = 0;
  for (let i = open; i < rest.length; i++) {
    if (rest[i] === '(') depth++;
    else if (rest[i] === ')' && --depth === 0) return rest.slice(open + 1, i);
  }
  return rest.slice(open + 1);
}

/**
 * The connecting address in one Received header's value, read by its format,
 * never from the part the client chose (its HELO):
 * - Postfix, Sendmail, ours: `from HELO (rdns [ip])`, `from HELO ([ip])`: the
 *   bracketed address inside the comment;
 * - Exim: `from rdns ([ip] helo=HELO)`, or `from [ip] (helo=HELO)` when the
 *   address has no name: Exim writes the address itself first;
 * - Exchange: `from NAME (10.0.0.5) by ...`: the bare address in the comment.
 * A HELO that is an address literal (`from [8.8.8.8] (unknown [198.51.100.7])`)
 * is never taken for the address. Null when the header has no from clause
 * or none of these shapes.
 */
export function readReceivedFrom(value: string): ReceivedFrom | null {
  const text = value.replace(/\r?\n[ \t]+/g, ' ').trim();
  const clause = fromClause(text);
  if (!clause) return null;
  const first = /^\S+/.exec(clause)?.[0] ?? '';
  const rest = clause.slice(first.length);
  const comment = firstComment(rest);
  const heloIn = comment === null ? null : (/(?:^|\s)helo=(\S+?)\)?(?:\s|$)/i.exec(comment)?.[1] ?? null);
  // Addresses after helo= are the client's words: left out before looking.
  const facts = comment === null ? '' : comment.replace(/(?:^|\s)helo=\S+/gi, ' ');
  const inBrackets = BRACKETED.exec(facts);
  if (inBrackets?.[1]) return { address: inBrackets[1], helo: heloIn ?? first };
  const bare = BARE_IN_PARENS.exec(facts.trim());
  if (bare?.[1]) return { address: bare[1], helo: heloIn ?? first };
  // Exim without a name for the address: "from [ip] (helo=...)" (or no comment at all).
  const lit = LITERAL.exec(first);
  if (lit?.[1] && (heloIn !== null || comment === null)) return { address: lit[1], helo: heloIn };
  return null;
}

/** The sending address only (see readReceivedFrom). */
export function receivedFromAddress(value: string): string | null {
  return readReceivedFrom(value)?.address ?? null;
}

/**
 * A hop inside the same host: a content filter (amavis and the like) hands
 * the message back over 127.0.0.1 or ::1. Only these two: the rest of
 * 127.0.0.0/8 plays other hosts in our tests, and never carries mail between
 * hosts in real life.
 */
function isLoopback(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1';
}

/** Private and reserved ranges: an inside hop of the upstream's own network, not a sender on the Internet. */
function isInternal(ip: string): boolean {
  return /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.)/.test(ip) || /^f[cd][0-9a-f]{2}:/i.test(ip) || /^fe[89ab][0-9a-f]:/i.test(ip);
}

/**
 * `received` are the values of the message's Received headers from the top,
 * as the client sent them (without ours). `client` is the connecting address.
 */
export function findOrigin(client: string, received: readonly string[], isUpstream: (ip: string) => boolean): OriginResult {
  const via: string[] = [];
  let current = client;
  let i = 0;
  for (;;) {
    if (!isUpstream(current)) return { origin: current, via, fallback: null };
    via.push(current);
    // An upstream host may write several headers of its own (a content filter
    // hands the message back over loopback): those hops stay on the same host.
    let next: string | null = null;
    for (;;) {
      const header = received[i];
      if (header === undefined) return { origin: current, via, fallback: `no Received header below upstream host ${current}` };
      next = receivedFromAddress(header);
      i++;
      if (next === null) return { origin: current, via, fallback: `cannot read the sending address in Received header ${i}: ${header.replace(/\s+/g, ' ').slice(0, 120)}` };
      if (!isLoopback(next)) break;
    }
    if (!isUpstream(next) && isInternal(next)) return { origin: current, via, fallback: `Received header ${i} names an internal address (${next}) that is not an upstream host` };
    current = next;
    if (!isUpstream(current)) return { origin: current, via, fallback: null, headerIndex: i - 1 };
  }
}
