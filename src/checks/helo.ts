// HELO/EHLO checks (antispam.helo_checks) at MAIL FROM, for direct clients:
// a greeting with our own name or one of our addresses, or a name that is
// neither a host name nor an address literal, is refused.

import { MailError } from '../core/mail-error.ts';
import { checkHelo } from '../antispam/helo-check.ts';
import { parseIp } from '../objects/ip.ts';
import { PASS, type Check, type Verdict } from './check.ts';

export const helo: Check = {
  name: 'helo',
  exception: 'helo',
  enabled: (snap) => snap.settings.antispam.helo_checks,
  mail: {
    who: ['direct'],
    run(s): Verdict {
      // policy explain knows no greeting.
      if (s.helo === null) return PASS;
      const st = s.snap.settings;
      const ours = [...st.listeners.map((l) => l.address), s.localAddress ?? ''].map((a) => parseIp(a)).flatMap((p) => (p.ok && p.value !== 0n ? [p.value] : []));
      const v = checkHelo(s.helo, { hostname: st.hostname, addresses: ours });
      if (v.ok) return { kind: 'pass', log: { helo: { verdict: 'pass' } } };
      return { kind: 'refuse', error: new MailError(550, '5.7.1', 'HELO/EHLO refused', { rule: 'antispam.helo_checks', reason: v.reason }), log: { helo: { verdict: 'fail', reason: v.reason } } };
    },
  },
};
