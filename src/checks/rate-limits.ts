// Rate limits (limits.rate): messages counted at MAIL FROM, recipients at
// RCPT TO, per user, group, network object, client address or sender domain,
// across the installation (src/limits/rate-limiter.ts). Over a limit: 450
// 4.7.1 (defer), 550 5.7.1 (reject), or accepted and held in the queue
// (hold: remembered for the transaction and reported at the end of DATA,
// where the commit marks the message held). Asked of every client: `who` and
// `match` say whom a limit counts. A store that cannot be read defers (fail
// closed). Off, and no store touched, when no limit is configured.

import { MailError } from '../core/mail-error.ts';
import { domainKey } from '../address/path.ts';
import type { RateDecision, RateSubject, RateUnit } from '../limits/rate-rules.ts';
import { limitName } from '../limits/rate-rules.ts';
import { acceptedPath } from './paths.ts';
import { EVERYONE, PASS, type Check, type Fields, type SessionFacts, type Verdict } from './check.ts';

/** What the end of DATA reports when a limit with action hold tripped in the transaction (read by the commit). */
export interface RateHold {
  readonly limit: string;
  readonly reason: string;
}

function subject(s: SessionFacts, sender: string): RateSubject {
  const at = sender.lastIndexOf('@');
  return {
    user: s.user?.name ?? null,
    groups: s.user?.groups ?? [],
    client: s.client.text,
    inNetwork: (name) => s.snap.networks.match(name, s.client.ip) !== null,
    senderDomain: at > 0 ? domainKey(sender.slice(at + 1)) : null,
  };
}

async function count(s: SessionFacts, unit: RateUnit, sender: string): Promise<Verdict> {
  const limiter = s.services.rate;
  if (!limiter) return PASS;
  let d: RateDecision;
  try {
    d = await limiter.take(s.snap.settings.limits.rate, unit, subject(s, sender), 1, { client: s.client.text, user: s.user?.name ?? null, sender });
  } catch (err) {
    const reason = `rate limit store: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'refuse', error: new MailError(451, '4.3.0', 'Temporary failure, please try again later', { rule: 'limits.rate', reason }) };
  }
  if (d.kind === 'pass') return PASS;
  const { demand, count: c } = d.trip;
  const name = limitName(demand.limit, demand.index);
  const what = `${demand.limit.who} ${demand.value}: ${c} ${unit} of ${demand.max} per ${demand.limit.per}`;
  const log: Fields = { rate: { limit: name, action: d.trip.action, count: c, max: demand.max } };
  if (d.kind === 'hold') {
    const hold: RateHold = { limit: name, reason: what };
    s.memo.hold = hold;
    return { kind: 'pass', log };
  }
  const rule = `limits.rate[${demand.index}]`;
  const reason = `${name}: ${what}`;
  const error =
    d.trip.action === 'reject'
      ? new MailError(550, '5.7.1', `Rate limit exceeded (${unit} per ${demand.limit.per})`, { rule, reason })
      : new MailError(450, '4.7.1', `Rate limit exceeded (${unit} per ${demand.limit.per}), try again later`, { rule, reason });
  return { kind: 'refuse', error, log };
}

export const rateLimits: Check = {
  name: 'rate',
  asks: 'store',
  enabled: (snap) => snap.settings.limits.rate.length > 0,
  mail: {
    who: EVERYONE,
    run(s, x) {
      // A new transaction: a hold of the last one does not carry over.
      delete s.memo.hold;
      return count(s, 'messages', acceptedPath(x.path).stored);
    },
  },
  rcpt: {
    who: EVERYONE,
    // A repeated mailbox costs no recipient slot, and no count either.
    run: (s, x) => (x.repeat ? PASS : count(s, 'recipients', x.sender)),
  },
  data: {
    who: EVERYONE,
    run: (s) => (s.memo.hold ? { kind: 'pass', report: { rate_hold: s.memo.hold } } : PASS),
  },
};
