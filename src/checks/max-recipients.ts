// At RCPT TO: limits.max_recipients per transaction. A mailbox given again is
// acknowledged without taking a slot.

import { MailError } from '../core/mail-error.ts';
import { EVERYONE, PASS, type Check } from './check.ts';

export const maxRecipients: Check = {
  name: 'max-recipients',
  rcpt: {
    who: EVERYONE,
    run: (s, x) =>
      !x.repeat && x.accepted >= s.snap.settings.limits.max_recipients
        ? { kind: 'refuse', error: new MailError(452, '4.5.3', 'Too many recipients', { rule: 'limits.max_recipients', reason: `${x.accepted} recipients accepted already` }) }
        : PASS,
  },
};
