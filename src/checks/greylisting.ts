// Greylisting (antispam.greylisting): the first attempt of a (client, sender,
// recipient) triplet is answered 451 until the delay has passed. A direct
// client is greylisted at RCPT TO; mail from an upstream host at the end of
// DATA, on its origin. A store that cannot answer defers (fail closed).

import { durationMs } from '../core/duration.ts';
import { MailError } from '../core/mail-error.ts';
import { tripletKey } from '../antispam/greylist.ts';
import { formatIp } from '../objects/ip.ts';
import { acceptedPath } from './paths.ts';
import { PASS, type Check, type SessionFacts, type Verdict } from './check.ts';

async function greylist(s: SessionFacts, origin: bigint, sender: string, recipients: readonly string[]): Promise<Verdict> {
  const store = s.services.greylist;
  if (!store) return PASS;
  const g = s.snap.settings.antispam.greylisting;
  const times = { delayMs: durationMs(g.delay), expiryMs: durationMs(g.expiry), lifetimeMs: durationMs(g.lifetime) };
  const now = s.services.now();
  let wait = 0;
  let known = true;
  try {
    for (const r of recipients) {
      const v = await store.check(tripletKey(origin, sender, r), now, times);
      if (!v.pass) wait = Math.max(wait, v.retryInMs);
      else if (!v.known) known = false;
    }
  } catch (err) {
    const reason = `greylist store: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'refuse', error: new MailError(451, '4.3.0', 'Temporary failure, please try again later', { rule: 'antispam.greylisting', reason }) };
  }
  if (wait === 0) return { kind: 'pass', log: { greylisting: { verdict: known ? 'known' : 'passed' } } };
  const secs = Math.ceil(wait / 1000);
  return {
    kind: 'refuse',
    error: new MailError(451, '4.7.1', `Greylisted, please try again in ${secs} second${secs === 1 ? '' : 's'}`, { rule: 'antispam.greylisting', reason: `first attempt from ${formatIp(origin)}` }),
    log: { greylisting: { verdict: 'greylisted', retry_in_s: secs } },
  };
}

export const greylisting: Check = {
  name: 'greylisting',
  asks: 'store',
  exception: 'greylisting',
  enabled: (snap) => snap.settings.antispam.greylisting.enabled,
  rcpt: { who: ['direct'], run: (s, x) => greylist(s, s.client.ip, x.sender, [acceptedPath(x.path).stored]) },
  data: { who: ['upstream'], run: (s, x) => greylist(s, x.origin.ip, x.sender, x.recipients) },
};
