// Personal sender lists (issue 21, docs/portal.md): what a portal user
// allows or blocks, applied to clients without a relay right. At RCPT a
// sender on the recipient's block list refuses that recipient (550 5.7.1,
// rule sender_list.block; the other recipients are not affected); a sender on
// the allow list of every recipient of the message tells the content scan,
// through Additions.senderAllowed, not to apply the spam engine's verdict
// (malware and the content rules still apply). The lists are read from a
// cache kept fresh on change (src/portal/sender-list-cache.ts); when the
// store cannot answer the lists are ignored for that recipient (logged):
// ignoring them never lets through more than the admin's own policy does,
// while refusing would let a store outage stop mail.

import { MailError } from '../core/mail-error.ts';
import { addressKey, matchSender } from '../portal/sender-lists.ts';
import { PASS, WITHOUT_RELAY_RIGHT, type Check, type SessionFacts, type Verdict } from './check.ts';
import { acceptedPath } from './paths.ts';

/** What the RCPTs of the current transaction found on allow lists. */
interface Allowed {
  sender: string;
  recipients: Set<string>;
}

function allowedOf(s: SessionFacts): Allowed | undefined {
  return s.memo.allowed as Allowed | undefined;
}

export const senderLists: Check = {
  name: 'sender-lists',
  asks: 'store',
  // The lists belong to the portal: with it off they are kept but not applied.
  enabled: (snap) => snap.settings.quarantine.portal.enabled,
  mail: {
    who: WITHOUT_RELAY_RIGHT,
    run(s) {
      s.memo.allowed = undefined;
      return PASS;
    },
  },
  rcpt: {
    who: WITHOUT_RELAY_RIGHT,
    async run(s, x): Promise<Verdict> {
      const lists = s.services.senderLists;
      if (!lists || x.sender === '') return PASS;
      const rcpt = acceptedPath(x.path).stored;
      if (rcpt === '') return PASS;
      const found = await lists.lookup(rcpt);
      if (found === 'unavailable') return { kind: 'pass', log: { sender_list: { rule: 'sender_list', ignored: 'the store did not answer' } } };
      const blocked = matchSender(found.block, x.sender);
      if (blocked !== null) {
        return {
          kind: 'refuse',
          error: new MailError(550, '5.7.1', 'Sender blocked by the recipient', { rule: 'sender_list.block', reason: `${blocked} is on the block list of ${rcpt}` }),
          log: { sender_list: { rule: 'sender_list.block', entry: blocked } },
        };
      }
      const allowed = matchSender(found.allow, x.sender);
      if (allowed === null) return PASS;
      let memo = allowedOf(s);
      if (!memo || memo.sender !== x.sender) s.memo.allowed = memo = { sender: x.sender, recipients: new Set() };
      memo.recipients.add(addressKey(rcpt));
      return { kind: 'pass', log: { sender_list: { rule: 'sender_list.allow', entry: allowed } } };
    },
  },
  data: {
    who: WITHOUT_RELAY_RIGHT,
    run(s, x): Verdict {
      const memo = allowedOf(s);
      s.memo.allowed = undefined;
      if (!memo || memo.sender !== x.sender || x.recipients.length === 0) return PASS;
      if (!x.recipients.every((r) => memo.recipients.has(addressKey(r)))) return PASS;
      const senderAllowed = { rule: 'sender_list.allow' as const, recipients: x.recipients.length };
      return { kind: 'pass', add: { senderAllowed }, log: { sender_list: senderAllowed } };
    },
  },
};
