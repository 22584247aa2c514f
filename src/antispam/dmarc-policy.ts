// What a DMARC result means for one message (pure): the policy its From
// domain published (as mailauth worked it out: p, sp or np, t=y), sampled by
// pct as RFC 7489 6.6.4 says (a message outside the percentage gets the next
// weaker policy), then antispam.dmarc.action: reject refuses p=reject and
// quarantines p=quarantine, quarantine quarantines both, tag adds a spam
// symbol, off does nothing. Only a fail acts: pass, none, temperror and
// permerror never refuse (DNS trouble must not lose mail).
//
// A From that names several author domains, or an unreadable address beside
// a readable one, has no single author domain for DMARC (RFC 9989 5.3.1),
// and mail programs show one of its addresses: such a message must never
// fare better than a DMARC fail of the domains it names (RFC 7489 6.6.1
// allows refusing it). authorsPlan() says how each domain is judged and
// strictest() which result then decides.

import type { DmarcAction } from '../config/document.ts';

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

export interface DmarcFacts {
  /** pass, fail, none, temperror, permerror. */
  result: string;
  /** The policy that applies to the From domain, null when none was found. */
  policy: DmarcPolicy | null;
  /** The record's pct (0-100); 100 when absent. */
  pct: number;
}

export interface DmarcDecision {
  act: 'reject' | 'quarantine' | 'tag' | 'none';
  /** The policy after the pct sampling (null: the message did not fail). */
  applied: DmarcPolicy | null;
  /** false when pct left this message out of the policy. */
  sampled: boolean;
}

const WEAKER: Record<DmarcPolicy, DmarcPolicy> = { reject: 'quarantine', quarantine: 'none', none: 'none' };

/** `roll`: a number in [0, 100), drawn per message (Math.random() * 100). */
export function decideDmarc(f: DmarcFacts, action: DmarcAction, roll: number): DmarcDecision {
  if (f.result !== 'fail' || f.policy === null) return { act: 'none', applied: null, sampled: true };
  const pct = Math.min(100, Math.max(0, f.pct));
  const sampled = roll < pct;
  const applied = sampled ? f.policy : WEAKER[f.policy];
  if (applied === 'none' || action === 'off') return { act: 'none', applied, sampled };
  if (action === 'tag') return { act: 'tag', applied, sampled };
  if (action === 'quarantine') return { act: 'quarantine', applied, sampled };
  return { act: applied === 'reject' ? 'reject' : 'quarantine', applied, sampled };
}

const STRENGTH: Record<DmarcPolicy, number> = { none: 0, quarantine: 1, reject: 2 };

/** One author domain's DMARC result. */
export interface AuthorResult {
  domain: string;
  result: string;
  policy: DmarcPolicy | null;
  pct: number;
}

/** More author domains than this are not looked up (a From padded to hide one domain among many): judged as p=reject. */
export const MAX_AUTHOR_DOMAINS = 20;

export type AuthorsPlan =
  | { kind: 'permerror'; why: string }
  | { kind: 'fail'; why: string }
  /** Evaluate DMARC for each domain; `credit` false: no SPF or DKIM result aligns (each domain with a record fails). */
  | { kind: 'evaluate'; why: string; domains: string[]; credit: boolean };

/**
 * How to judge a message whose From has no single author domain, from mailauth's reason, the number
 * of From fields and the domains found:
 * - no From field (RFC 5322 requires one), or no readable address at all: nothing names a domain, permerror;
 * - several From fields, or an unreadable address beside readable ones: malformed, and a signature may
 *   cover another field or address than the one shown, so nothing aligns: every named domain that
 *   publishes a policy fails against it;
 * - one From field with several domains (valid RFC 5322): RFC 7489 6.6.1, each domain evaluated as the
 *   author domain with the SPF and DKIM results, the strictest failing policy applies.
 */
export function authorsPlan(reason: string, fromFields: number, domains: string[]): AuthorsPlan {
  if (fromFields === 0) return { kind: 'permerror', why: 'no From field' };
  const why = reason === 'multiple-from-fields' ? 'several From fields' : reason === 'invalid-author-domain' ? 'an unreadable address in From' : reason === 'multiple-author-domains' ? 'several domains in From' : 'no author domain';
  if (domains.length === 0 || reason === 'no-author-domain') return { kind: 'permerror', why };
  if (domains.length > MAX_AUTHOR_DOMAINS) return { kind: 'fail', why: `more than ${MAX_AUTHOR_DOMAINS} domains in From` };
  return { kind: 'evaluate', why, domains, credit: reason === 'multiple-author-domains' };
}

/**
 * The result that decides for several author domains: the fail with the strictest policy (then the
 * highest pct), else a temperror (DNS trouble: never a refusal), else any other fail, permerror or
 * none, and pass only when every domain passed.
 */
export function strictest(authors: AuthorResult[]): { result: string; policy: DmarcPolicy | null; from: string | null } {
  const fails = authors.filter((a) => a.result === 'fail' && a.policy !== null);
  fails.sort((a, b) => STRENGTH[b.policy!] - STRENGTH[a.policy!] || b.pct - a.pct);
  if (fails[0]) return { result: 'fail', policy: fails[0].policy, from: fails[0].domain };
  for (const result of ['temperror', 'fail', 'permerror', 'none']) {
    const a = authors.find((x) => x.result === result);
    if (a) return { result, policy: null, from: a.domain };
  }
  if (authors.length > 0 && authors.every((a) => a.result === 'pass')) return { result: 'pass', policy: null, from: authors[0]!.domain };
  return { result: 'permerror', policy: null, from: null };
}
