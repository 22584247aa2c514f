// The Exceptions tab: networks and sender addresses for which named checks
// are skipped. A network entry matches the connecting client or the origin
// address; a sender entry matches the MAIL FROM address ("user@example.com"),
// a whole domain ("example.com" or "*@example.com").

import type { AntispamException, CheckName } from '../config/document.ts';
import { CHECK_NAMES } from '../config/document.ts';
import type { NetworkIndex } from '../objects/networks.ts';

export interface ExceptionFacts {
  addresses: readonly bigint[];
  /** The MAIL FROM address, or null when not known yet (at connect); '' for <>. */
  sender: string | null;
}

function senderMatches(pattern: string, sender: string): boolean {
  const p = pattern.toLowerCase();
  const s = sender.toLowerCase();
  if (s === '') return false;
  const domain = s.slice(s.lastIndexOf('@') + 1);
  if (p.startsWith('*@')) return domain === p.slice(2);
  if (!p.includes('@')) return domain === p;
  return s === p;
}

/** For each skipped check, the exception that skips it (its index, for the log). */
export function skippedChecks(exceptions: readonly AntispamException[], networks: NetworkIndex, facts: ExceptionFacts): Map<CheckName, number> {
  const out = new Map<CheckName, number>();
  exceptions.forEach((e, i) => {
    const byNetwork = e.networks.some((n) => facts.addresses.some((a) => networks.match(n, a) !== null));
    const bySender = facts.sender !== null && e.senders.some((p) => senderMatches(p, facts.sender ?? ''));
    if (!byNetwork && !bySender) return;
    for (const c of e.skip.length ? e.skip : CHECK_NAMES) if (!out.has(c)) out.set(c, i);
  });
  return out;
}

/** Whether some exception could skip `check` once the sender is known: then the check waits for MAIL FROM. */
export function dependsOnSender(exceptions: readonly AntispamException[], check: CheckName): boolean {
  return exceptions.some((e) => e.senders.length > 0 && (e.skip.length === 0 || e.skip.includes(check)));
}
