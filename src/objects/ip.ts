// IP addresses and ranges in one 128-bit space. An IPv4 address a.b.c.d is
// kept as its IPv4-mapped IPv6 form ::ffff:a.b.c.d, so a client that arrives
// as 10.1.2.3 or as ::ffff:10.1.2.3 matches exactly the same objects.
// Parsing is strict on purpose: legacy IPv4 spellings ("010.1.2.3", "10.1",
// "0x0a.1.2.3") mean different things to different libraries, so an admin
// who types one gets an error instead of a surprise.

import { isIPv6 } from 'node:net';

export interface IpRange {
  /** First address, inclusive. */
  readonly from: bigint;
  /** Last address, inclusive. */
  readonly to: bigint;
}

export type Family = 4 | 6;

export type Parsed<T> = ({ ok: true } & T) | { ok: false; reason: string };

const V4_BASE = 0xffff_0000_0000n;
const MAX128 = (1n << 128n) - 1n;

/** Every IPv4 address, as ::ffff:0.0.0.0/96. */
export const IPV4_SPACE: IpRange = { from: V4_BASE, to: V4_BASE + 0xffff_ffffn };
/** Every address of both families. */
export const ALL_ADDRESSES: IpRange = { from: 0n, to: MAX128 };
/** Global unicast IPv6 (2000::/3): what "all of the IPv6 Internet" means in practice. */
export const IPV6_GLOBAL: IpRange = { from: 1n << 125n, to: (2n << 125n) - 1n };

export function isV4(value: bigint): boolean {
  return value >= IPV4_SPACE.from && value <= IPV4_SPACE.to;
}

function parseV4Parts(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function v4Value(parts: number[]): bigint {
  let v = 0n;
  for (const p of parts) v = (v << 8n) | BigInt(p);
  return V4_BASE + v;
}

function parseV6(text: string): bigint | null {
  if (!isIPv6(text) || text.includes('%')) return null;
  let head = text;
  let tail: bigint[] = [];
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    const parts = parseV4Parts(maybeV4);
    if (!parts) return null;
    const [a = 0, b = 0, c = 0, d = 0] = parts;
    tail = [BigInt((a << 8) | b), BigInt((c << 8) | d)];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const want = 8 - tail.length;
  let groups: string[];
  if (head.includes('::')) {
    const [l = '', r = ''] = head.split('::');
    const left = l === '' ? [] : l.split(':');
    const right = r === '' ? [] : r.split(':');
    const fill = want - left.length - right.length;
    if (fill < 0) return null;
    groups = [...left, ...Array<string>(fill).fill('0'), ...right];
  } else {
    groups = head === '' ? [] : head.split(':');
  }
  if (groups.length !== want) return null;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  for (const t of tail) v = (v << 16n) | t;
  return v;
}

/** A single address, strictly spelled. IPv4-mapped IPv6 reports family 4. */
export function parseIp(text: string): Parsed<{ value: bigint; family: Family }> {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return { ok: false, reason: 'not an IP address' };
  if (!text.includes(':')) {
    const parts = parseV4Parts(text);
    if (!parts) {
      return { ok: false, reason: /^[0-9a-fA-Fx.]+$/.test(text) ? 'not a dotted-quad IPv4 address (write four decimal numbers 0-255 without leading zeros)' : 'not an IP address' };
    }
    return { ok: true, value: v4Value(parts), family: 4 };
  }
  const v = parseV6(text);
  if (v === null) return { ok: false, reason: 'not an IP address' };
  return { ok: true, value: v, family: isV4(v) ? 4 : 6 };
}

/** "10.1.0.0/16" or "2001:db8::/32". Host bits must be zero. */
export function parseCidr(text: string): Parsed<{ range: IpRange; family: Family; prefix: number }> {
  const slash = typeof text === 'string' ? text.indexOf('/') : -1;
  if (slash < 0) return { ok: false, reason: 'expected address/prefix, e.g. 10.1.0.0/16' };
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const ip = parseIp(addr);
  if (!ip.ok) return ip;
  // An IPv4-mapped address written in IPv6 takes a 128-bit prefix.
  const written: Family = addr.includes(':') ? 6 : 4;
  const max = written === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) {
    return { ok: false, reason: `prefix length must be a number from 0 to ${max}` };
  }
  const prefix = Number(prefixText);
  const hostBits = BigInt(max - prefix);
  const mask = (1n << hostBits) - 1n;
  const base = written === 4 ? ip.value - V4_BASE : ip.value;
  if ((base & mask) !== 0n) {
    const fixed = (written === 4 ? V4_BASE : 0n) + (base & ~mask);
    return { ok: false, reason: `host bits are set; did you mean ${formatIp(fixed)}/${prefix}?` };
  }
  const from = ip.value;
  return { ok: true, range: { from, to: from + mask }, family: ip.family, prefix };
}

/** Dotted quad for IPv4 (and mapped) addresses, RFC 5952 text for IPv6. */
export function formatIp(value: bigint): string {
  if (isV4(value)) {
    const v = Number(value - V4_BASE);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of two or more zero groups becomes "::" (first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatRange(r: IpRange): string {
  return r.from === r.to ? formatIp(r.from) : `${formatIp(r.from)}-${formatIp(r.to)}`;
}

export function rangeContains(r: IpRange, value: bigint): boolean {
  return value >= r.from && value <= r.to;
}

/** Sorted, merged copy: the smallest list of ranges covering the same addresses. */
export function mergeRanges(ranges: readonly IpRange[]): IpRange[] {
  const sorted = [...ranges].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const out: { from: bigint; to: bigint }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1n) {
      if (r.to > last.to) last.to = r.to;
    } else {
      out.push({ from: r.from, to: r.to });
    }
  }
  return out;
}

/** How many addresses of `within` the ranges cover. */
export function coveredCount(ranges: readonly IpRange[], within: IpRange): bigint {
  let n = 0n;
  for (const r of mergeRanges(ranges)) {
    const from = r.from > within.from ? r.from : within.from;
    const to = r.to < within.to ? r.to : within.to;
    if (from <= to) n += to - from + 1n;
  }
  return n;
}

export function rangeSize(r: IpRange): bigint {
  return r.to - r.from + 1n;
}

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.from <= b.to && b.from <= a.to;
}

/** Address space that is not routed on the public Internet. */
const NON_PUBLIC: IpRange[] = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.0.0.0/24', '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/3',
  '::/127', 'fc00::/7', 'fe80::/10', 'ff00::/8', '2001:db8::/32', '64:ff9b:1::/48',
].map((c) => {
  const p = parseCidr(c);
  if (!p.ok) throw new Error(`bad built-in range ${c}`);
  return p.range;
});

/** How many public (globally routed) addresses of one family a list covers. */
export function publicCount(ranges: readonly IpRange[], family: Family): bigint {
  const space = family === 4 ? IPV4_SPACE : IPV6_GLOBAL;
  const total = coveredCount(ranges, space);
  const hidden = coveredCount(
    mergeRanges(ranges).flatMap((r) => NON_PUBLIC.map((np) => ({ from: r.from > np.from ? r.from : np.from, to: r.to < np.to ? r.to : np.to }))).filter((r) => r.from <= r.to),
    space,
  );
  return total - hidden;
}
