// At MAIL FROM: is there room for a message (limits.min_free_space), and can
// the queue's store be reached (a cluster's database)? Asked before the
// client sends its data, as Postfix's queue_minfree.

import { MailError } from '../core/mail-error.ts';
import { EVERYONE, PASS, type Check, type Verdict } from './check.ts';

export const queueSpace: Check = {
  name: 'queue-space',
  mail: {
    who: EVERYONE,
    run(s): Verdict {
      const store = s.services.store;
      if (!store) return PASS;
      const min = s.snap.settings.limits.min_free_space;
      const room = store.admits(min);
      if (room.ok) return PASS;
      // Nothing is full when the store cannot be reached for now (a cluster's database away).
      const error =
        room.cause === 'unavailable'
          ? new MailError(451, '4.3.0', 'Temporary local problem: the queue is unavailable, try again later', { rule: 'store', reason: room.reason })
          : new MailError(452, '4.3.1', 'Insufficient system storage', { rule: 'limits.min_free_space', reason: `${room.reason} (min_free_space ${min})` });
      return { kind: 'refuse', error };
    },
  },
};
