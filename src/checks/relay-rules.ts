// The relay rules (src/policy/rules.ts, pure functions) as the first check
// of every stage: who may connect, which users may relay, MAIL FROM's
// syntax and the submission listener's AUTH, and each recipient's rule.

import type { Decision } from '../core/decision.ts';
import { MailError } from '../core/mail-error.ts';
import { decideAuth, decideConnect, decideRecipient, decideSender } from '../policy/rules.ts';
import { EVERYONE, type Check, type Verdict } from './check.ts';

function verdict(d: Decision): Verdict {
  return d.action === 'accept' ? { kind: 'pass', decision: d } : { kind: 'refuse', error: MailError.of(d), decision: d };
}

export const relayRules: Check = {
  name: 'relay',
  connect: { who: EVERYONE, run: (s) => verdict(decideConnect(s.snap, s.client)) },
  auth: { who: EVERYONE, run: (s, x) => verdict(decideAuth(s.snap, x.user)) },
  mail: { who: EVERYONE, run: (s, x) => verdict(decideSender(s.snap, s, x.raw, { wire: x.wire, parsed: x.path })) },
  rcpt: { who: EVERYONE, run: (s, x) => verdict(decideRecipient(s.snap, s, x.raw, { wire: x.wire, parsed: x.path })) },
};
