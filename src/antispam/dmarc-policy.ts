// What a DMARC result means for one message (pure): the policy its From
// domain published (as mailauth worked it out: p, sp or np, t=y), sampled by
// pct as RFC 7489 6.6.4 says (a message outside the percentage gets the next
// weaker policy), then antispam.dmarc.action: reject refuses p=reject and
// quarantines p=quarantine, quarantine quarantines both, tag adds a spam
// symbol, off does nothing. Only a fail acts: pass, none, temperror and
// permerror never refuse (DNS trouble must not lose mail).

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
