// Rate limits (limits.rate), per user, group, network object, client (an
// IPv6 client by its network, limits.ipv6_client_prefix) or sender domain,
// across the installation (src/limits/rate-limiter.ts). Asked at MAIL FROM
// (messages) and RCPT TO (recipients, with this transaction's accepted ones),
// but counted only when the message is committed (the end of DATA reports a
// counting step that the commit runs): a MAIL + RSET costs nothing, so nobody
// burns someone else's budget with transactions that never deliver. Over a
// limit: 450 4.7.1 (defer), 550 5.7.1 (reject), or accepted and held in the
// queue (hold: remembered for the transaction and reported at the end of
// DATA, where the commit marks the message held). A sender_domain limit
// counts only mail from clients with a relay right or a login unless its
// entry says `inbound: true`: the sender domain of mere inbound mail is
// anybody's to forge. Asked of every client: `who` and
// `match` say whom a limit counts. A store that cannot be read defers (fail
// closed). Off, and no store touched, when no limit is configured.

import { MailError } from '../core/mail-error.ts';
import { domainKey } from '../address/path.ts';
import type { RateDecision, RateSubject, RateUnit } from '../limits/rate-rules.ts';
import { limitName } from '../limits/rate-rules.ts';
import { clientBucket } from '../objects/client-bucket.ts';
import { acceptedPath } from './paths.ts';
import { EVERYONE, PASS, type Check, type Fields, type SessionFacts, type Verdict } from './check.ts';

/** What the end of DATA reports when a limit with action hold tripped in the transaction (read by the commit). */
export interface RateHold {
  readonly limit: string;
  readonly reason: string;
}

/** What the end of DATA reports for the commit to run once the message is stored: adds it to the counters. */
export type RateCommit = () => void;

function subject(s: SessionFacts, sender: string): RateSubject {
  const at = sender.lastIndexOf('@');
  return {
    user: s.user?.name ?? null,
    groups: s.user?.groups ?? [],
    client: clientBucket(s.client.text, s.snap.settings.limits.ipv6_client_prefix),
    relayed: s.relayRight.right !== null || s.user !== null,
    inNetwork: (name) => s.snap.networks.match(name, s.client.ip) !== null,
    senderDomain: at > 0 ? domainKey(sender.slice(at + 1)) : null,
  };
}

async function ask(s: SessionFacts, unit: RateUnit, sender: string, n: number): Promise<Verdict> {
  const limiter = s.services.rate;
  if (!limiter) return PASS;
  let d: RateDecision;
  try {
    d = await limiter.check(s.snap.settings.limits.rate, unit, subject(s, sender), n, { client: s.client.text, user: s.user?.name ?? null, sender });
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
      return ask(s, 'messages', acceptedPath(x.path).stored, 1);
    },
  },
  rcpt: {
    who: EVERYONE,
    // This transaction's accepted recipients are not counted yet: asked for together with this one.
    // A repeated mailbox costs no recipient slot, and no count either.
    run: (s, x) => (x.repeat ? PASS : ask(s, 'recipients', x.sender, x.accepted + 1)),
  },
  data: {
    who: EVERYONE,
    run(s, x) {
      const limiter = s.services.rate;
      const limits = s.snap.settings.limits.rate;
      const subj = subject(s, x.sender);
      const n = x.recipients.length;
      const commit: RateCommit = () => {
        limiter?.count(limits, 'messages', subj, 1);
        limiter?.count(limits, 'recipients', subj, n);
      };
      return { kind: 'pass', report: { rate_commit: commit, ...(s.memo.hold ? { rate_hold: s.memo.hold } : {}) } };
    },
  },
};
