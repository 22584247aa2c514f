// The PROXY protocol header (HAProxy's spec, versions 1 and 2), read from the
// first bytes a trusted proxy sends: pure, no sockets. `parseProxyHeader` is
// given everything received so far and answers at the earliest byte it can:
// 'incomplete' (read more), 'invalid' (close the connection), or 'done' with
// the header and its length (the bytes after it are SMTP).
//
// Strict on purpose: the header chooses the client address every relay rule
// sees, so anything but the exact forms is refused rather than guessed at.
//  v1: `PROXY TCP4|TCP6 src dst sport dport\r\n` (single spaces, addresses of
//      the named family, ports 0-65535 without leading zeros), or
//      `PROXY UNKNOWN[ anything printable]\r\n`; at most 107 bytes.
//  v2: the 12-byte signature, version 2, command LOCAL or PROXY, family
//      AF_INET or AF_INET6 over STREAM (or AF_UNSPEC), the length, addresses
//      that fit the length, then TLVs, which are checked for framing and
//      skipped. AF_UNIX and DGRAM carry no client address SMTP could use.
//
// LOCAL (v2), UNSPEC (v2) and UNKNOWN (v1) say "use the connection's own
// endpoints": the proxy speaks for itself (HAProxy's health checks do this).

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The spec's bound for a v1 line, CRLF included. */
export const V1_MAX = 107;
/**
 * Our bound for a whole v2 header. The largest address block is 216 bytes
 * (AF_UNIX); HAProxy's TLVs (ALPN, authority, unique id, SSL details, CRC)
 * stay well under 1 KiB. A length beyond this is refused before buffering it.
 */
export const V2_MAX = 4096;
const V2_FIXED = 16;

export type ProxyHeader =
  | {
      version: 1 | 2;
      /** The proxy speaks for itself: serve the connection with its real endpoints. */
      local: true;
      /** What said so: v2 LOCAL, v2 PROXY over AF_UNSPEC, v1 UNKNOWN. */
      form: 'LOCAL' | 'UNSPEC' | 'UNKNOWN';
    }
  | {
      version: 1 | 2;
      local: false;
      family: 4 | 6;
      source: string;
      sourcePort: number;
      destination: string;
      destinationPort: number;
    };

export type ParseResult = { status: 'incomplete' } | { status: 'invalid'; reason: string } | { status: 'done'; header: ProxyHeader; length: number };

const INCOMPLETE: ParseResult = { status: 'incomplete' };
const invalid = (reason: string): ParseResult => ({ status: 'invalid', reason });

/** Whether `buf` starts with as much of `prefix` as it holds. */
function startsLike(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

export function parseProxyHeader(buf: Uint8Array): ParseResult {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] === 0x0d) return startsLike(buf, SIGNATURE) ? parseV2(buf) : invalid('bad v2 signature');
  if (startsLike(buf, V1_PREFIX)) return parseV1(buf);
  return invalid('not a PROXY header');
}

// ---------------------------------------------------------------- version 1

function parseV1(buf: Uint8Array): ParseResult {
  const n = Math.min(buf.length, V1_MAX);
  let end = -1;
  for (let i = 0; i < n; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= buf.length) return INCOMPLETE;
      if (buf[i + 1] !== 0x0a) return invalid('v1: CR without LF');
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return invalid('v1: control or non-ASCII byte');
  }
  if (end < 0) return buf.length >= V1_MAX ? invalid(`v1: no CRLF within ${V1_MAX} bytes`) : INCOMPLETE;
  const line = Buffer.from(buf.buffer, buf.byteOffset, end).toString('latin1');
  const length = end + 2;
  if (line === 'PROXY UNKNOWN' || line.startsWith('PROXY UNKNOWN ')) return { status: 'done', header: { version: 1, local: true, form: 'UNKNOWN' }, length };
  const parts = line.split(' ');
  if (parts.length !== 6) return invalid('v1: expected PROXY TCP4|TCP6 src dst sport dport');
  const [, proto, src = '', dst = '', sport = '', dport = ''] = parts;
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid('v1: protocol is not TCP4, TCP6 or UNKNOWN');
  const family = proto === 'TCP4' ? 4 : 6;
  const valid = family === 4 ? isIPv4Text : isIPv6Text;
  if (!valid(src) || !valid(dst)) return invalid(`v1: address is not ${family === 4 ? 'IPv4' : 'IPv6'}`);
  const sp = portOf(sport);
  const dp = portOf(dport);
  if (sp === null || dp === null) return invalid('v1: bad port');
  return { status: 'done', header: { version: 1, local: false, family, source: src, sourcePort: sp, destination: dst, destinationPort: dp }, length };
}

function portOf(text: string): number | null {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

/** Dotted quad, no leading zeros (legacy spellings mean different things to different readers). */
export function isIPv4Text(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** RFC 4291 text form (an embedded dotted quad allowed at the end); no zone id. */
export function isIPv6Text(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  let groups = 8;
  let head = text;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return false;
  if (text.slice(lastColon + 1).includes('.')) {
    if (!isIPv4Text(text.slice(lastColon + 1))) return false;
    groups = 6;
    head = text.slice(0, lastColon + 1);
    // "…:1.2.3.4": the colon before the quad belongs to it, unless it is part of "::".
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return false;
  const count = (s: string): number | null => {
    if (s === '') return 0;
    const g = s.split(':');
    return g.every((x) => HEX_GROUP.test(x)) ? g.length : null;
  };
  if (halves.length === 1) return count(head) === groups;
  const l = count(halves[0]!);
  const r = count(halves[1]!);
  return l !== null && r !== null && l + r < groups;
}

// ---------------------------------------------------------------- version 2

function parseV2(buf: Uint8Array): ParseResult {
  if (buf.length < V2_FIXED) return INCOMPLETE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return invalid(`v2: version ${verCmd >> 4}`);
  const command = verCmd & 0x0f;
  if (command > 1) return invalid(`v2: command ${command}`);
  const len = (buf[14]! << 8) | buf[15]!;
  const length = V2_FIXED + len;
  if (length > V2_MAX) return invalid(`v2: header of ${length} bytes exceeds ${V2_MAX}`);
  if (buf.length < length) return INCOMPLETE;
  // LOCAL: the family and the whole block are discarded, as the spec says.
  if (command === 0) return { status: 'done', header: { version: 2, local: true, form: 'LOCAL' }, length };
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  let addrLen: number;
  if (family === 0) addrLen = 0;
  else if (family === 1 || family === 2) {
    if (transport !== 1) return invalid(`v2: transport ${transport} is not STREAM`);
    addrLen = family === 1 ? 12 : 36;
  } else if (family === 3) return invalid('v2: AF_UNIX carries no client address');
  else return invalid(`v2: address family ${family}`);
  if (len < addrLen) return invalid(`v2: ${len} bytes cannot hold the ${family === 1 ? 'IPv4' : 'IPv6'} addresses`);
  const tlv = tlvProblem(buf, V2_FIXED + addrLen, length);
  if (tlv) return invalid(`v2: ${tlv}`);
  if (family === 0) return { status: 'done', header: { version: 2, local: true, form: 'UNSPEC' }, length };
  const a = V2_FIXED;
  const header: ProxyHeader =
    family === 1
      ? { version: 2, local: false, family: 4, source: ipv4At(buf, a), destination: ipv4At(buf, a + 4), sourcePort: u16(buf, a + 8), destinationPort: u16(buf, a + 10) }
      : { version: 2, local: false, family: 6, source: ipv6At(buf, a), destination: ipv6At(buf, a + 16), sourcePort: u16(buf, a + 32), destinationPort: u16(buf, a + 34) };
  return { status: 'done', header, length };
}

/** TLVs are skipped, but only when they are framed exactly to the header's end. */
function tlvProblem(buf: Uint8Array, from: number, to: number): string | null {
  let at = from;
  while (at < to) {
    if (to - at < 3) return 'truncated TLV header';
    const n = u16(buf, at + 1);
    at += 3 + n;
    if (at > to) return 'TLV runs past the header';
  }
  return null;
}

const u16 = (buf: Uint8Array, at: number): number => (buf[at]! << 8) | buf[at + 1]!;

function ipv4At(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as "::", v4-mapped as ::ffff:a.b.c.d. */
export function ipv6At(buf: Uint8Array, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(u16(buf, at + 2 * i));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) return `::ffff:${ipv4At(buf, at + 12)}`;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** A v2 header (for tests and tools): PROXY over TCP with these endpoints, or LOCAL; `tlvs` appended as given. */
export function encodeV2(h: { local: true } | { local: false; family: 4 | 6; source: Uint8Array; destination: Uint8Array; sourcePort: number; destinationPort: number }, tlvs: Uint8Array = new Uint8Array(0)): Buffer {
  const addr = h.local ? Buffer.alloc(0) : Buffer.concat([h.source, h.destination, Buffer.from([h.sourcePort >> 8, h.sourcePort & 255, h.destinationPort >> 8, h.destinationPort & 255])]);
  const len = addr.length + tlvs.length;
  const fam = h.local ? 0x00 : h.family === 4 ? 0x11 : 0x21;
  return Buffer.concat([SIGNATURE, Buffer.from([h.local ? 0x20 : 0x21, fam, len >> 8, len & 255]), addr, tlvs]);
}
