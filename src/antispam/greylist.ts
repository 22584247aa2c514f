// Greylisting: the first attempt of an unknown (origin network, sender,
// recipient) triplet is refused for now; a retry after `delay` and before
// `expiry` is accepted and the triplet remembered for `lifetime` after its
// last message. The origin network is the /24 (IPv4) or /64 (IPv6), so that
// a sender's pool of outbound servers counts as one. The decision is pure;
// the records live behind the GreylistStore port (greylist-store.ts).

import { isV4 } from '../objects/ip.ts';

export interface GreylistTimes {
  delayMs: number;
  expiryMs: number;
  lifetimeMs: number;
}

export interface TripletRecord {
  first: number;
  last: number;
  passed: boolean;
}

export type GreylistVerdict = { pass: true; known: boolean } | { pass: false; retryInMs: number };

export function originNetwork(ip: bigint): string {
  if (isV4(ip)) return `v4:${(ip >> 8n).toString(16)}/24`;
  return `v6:${(ip >> 64n).toString(16)}/64`;
}

export function tripletKey(ip: bigint, sender: string, recipient: string): string {
  return `${originNetwork(ip)} ${sender.toLowerCase()} ${recipient.toLowerCase()}`;
}

/** What to answer and what to store, for an attempt at `now`. */
export function decideGreylist(rec: TripletRecord | null, now: number, t: GreylistTimes): { verdict: GreylistVerdict; store: TripletRecord } {
  if (rec && rec.passed && now - rec.last <= t.lifetimeMs) return { verdict: { pass: true, known: true }, store: { ...rec, last: now } };
  if (rec && !rec.passed && now - rec.first <= t.expiryMs) {
    if (now - rec.first >= t.delayMs) return { verdict: { pass: true, known: false }, store: { first: rec.first, last: now, passed: true } };
    return { verdict: { pass: false, retryInMs: t.delayMs - (now - rec.first) }, store: rec };
  }
  // Unknown, expired, or a pass forgotten: a first attempt.
  return { verdict: { pass: false, retryInMs: t.delayMs }, store: { first: now, last: now, passed: false } };
}
