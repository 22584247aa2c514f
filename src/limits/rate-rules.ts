// The pure decisions of the rate limits (limits.rate): which buckets a
// session's message or recipient falls into, the fixed window each bucket
// counts in, and whether adding to the counts trips a limit. No I/O and no
// clock of its own (the caller gives `now`), so that every case is tested
// without waiting for a window to pass. Counting and storing are in
// rate-limiter.ts.

import { domainKey } from '../address/path.ts';
import type { RateAction, RateLimit, RatePer, RateWho } from '../config/document.ts';

export type RateUnit = 'messages' | 'recipients';

export const PER_MS: Readonly<Record<RatePer, number>> = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 };

/** A fixed window: [start, end) in epoch ms, aligned on UTC minutes, hours or days. */
export interface RateWindow {
  readonly start: number;
  readonly end: number;
}

export function windowOf(per: RatePer, now: number): RateWindow {
  const len = PER_MS[per];
  const start = Math.floor(now / len) * len;
  return { start, end: start + len };
}

/** Who is sending, as the limits need it (read off the session by the check). */
export interface RateSubject {
  /** The authenticated user, or null. */
  readonly user: string | null;
  readonly groups: readonly string[];
  /** The client's bucket: its address as text (formatIp), an IPv6 client's network (clientBucket). */
  readonly client: string;
  /** Whether the client has a relay right or a login (what sender_domain limits count by default). */
  readonly relayed: boolean;
  /** Whether the client's address is in a network object (NetworkIndex.match). */
  inNetwork(name: string): boolean;
  /** The envelope sender's domain as domainKey() gives it; null for the null sender. */
  readonly senderDomain: string | null;
}

/** The values of `who` a limit counts this subject under (none: the limit does not apply). */
export function bucketValues(limit: RateLimit, s: RateSubject): string[] {
  const m = limit.match;
  switch (limit.who) {
    case 'user':
      if (s.user === null) return [];
      return m === undefined || m === s.user ? [s.user] : [];
    case 'group':
      if (s.user === null) return [];
      return m === undefined ? [...s.groups] : s.groups.includes(m) ? [m] : [];
    case 'network':
      // The whole network object is one bucket.
      return m !== undefined && s.inNetwork(m) ? [m] : [];
    case 'client':
      return m === undefined || s.inNetwork(m) ? [s.client] : [];
    case 'sender_domain':
      // Mail merely inbound may carry any sender domain: counted only when the entry asks (inbound: true).
      if (s.senderDomain === null || (!s.relayed && limit.inbound !== true)) return [];
      return m === undefined || domainKey(m) === s.senderDomain ? [s.senderDomain] : [];
  }
}

/**
 * A bucket's key: what is counted, for whom, in which window length. Limits
 * that count the same thing share the bucket (two limits on one user's
 * hourly messages see one count), and changing a limit's number or order
 * does not reset its count.
 */
export function bucketKey(unit: RateUnit, who: RateWho, value: string, per: RatePer): string {
  return `${unit}|${who}|${value}|${per}`;
}

export interface BucketParts {
  unit: RateUnit;
  who: RateWho;
  value: string;
  per: RatePer;
}

export function parseBucketKey(key: string): BucketParts | null {
  const first = key.indexOf('|');
  const second = key.indexOf('|', first + 1);
  const last = key.lastIndexOf('|');
  if (first < 0 || second < 0 || last <= second) return null;
  const unit = key.slice(0, first);
  const who = key.slice(first + 1, second);
  const per = key.slice(last + 1);
  if ((unit !== 'messages' && unit !== 'recipients') || !(per in PER_MS)) return null;
  return { unit, who: who as RateWho, value: key.slice(second + 1, last), per: per as RatePer };
}

/** One limit's claim on one bucket for what is being added. */
export interface Demand {
  /** Index in limits.rate. */
  readonly index: number;
  readonly limit: RateLimit;
  readonly key: string;
  readonly value: string;
  readonly max: number;
  readonly window: RateWindow;
}

/** The demands of every limit that counts `unit` for this subject at `now`, in the limits' order. */
export function demandsOf(limits: readonly RateLimit[], unit: RateUnit, s: RateSubject, now: number): Demand[] {
  const out: Demand[] = [];
  limits.forEach((limit, index) => {
    const max = limit[unit];
    if (max === undefined) return;
    const window = windowOf(limit.per, now);
    for (const value of bucketValues(limit, s)) out.push({ index, limit, key: bucketKey(unit, limit.who, value, limit.per), value, max, window });
  });
  return out;
}

export interface Trip {
  readonly demand: Demand;
  /** The bucket's count before what was refused or held. */
  readonly count: number;
  readonly action: RateAction;
}

export type RateDecision =
  /** Count `n` in every demand's bucket. */
  | { readonly kind: 'pass' }
  /** Count nothing: refused (defer: 450 4.7.1, reject: 550 5.7.1). */
  | { readonly kind: 'refuse'; readonly trip: Trip }
  /** Count and accept, but the message is held in the queue. */
  | { readonly kind: 'hold'; readonly trip: Trip };

/**
 * Whether adding `n` trips a limit. A refusing limit (defer, reject) wins
 * over a holding one: a held message is still accepted, so it must not pass
 * a limit that refuses. Among several of a kind, the first in the list.
 */
export function decide(demands: readonly Demand[], count: (key: string) => number, n: number): RateDecision {
  let hold: Trip | null = null;
  for (const d of demands) {
    const c = count(d.key);
    if (c + n <= d.max) continue;
    const action = d.limit.action;
    if (action !== 'hold') return { kind: 'refuse', trip: { demand: d, count: c, action } };
    hold ??= { demand: d, count: c, action };
  }
  return hold ? { kind: 'hold', trip: hold } : { kind: 'pass' };
}

/** How logs and `limits show` name a limit. */
export function limitName(limit: RateLimit, index: number): string {
  return limit.name ?? `limits.rate[${index}]`;
}
