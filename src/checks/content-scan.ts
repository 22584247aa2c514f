// The content scan (antivirus and antispam engines, src/scan) as the last
// check at the end of DATA: clamd is fed while the message is spooled (the
// watcher), the spam engine asked afterwards with what the earlier checks
// added (blocklist points, Authentication-Results); scan-policy.ts decides.
// Relayed mail is scanned only with relaying.scan_relayed (rule 7): the scan
// itself says "not scanned: relayed" for the log.

import type { ScanDecision } from '../scan/scan-policy.ts';
import { MessageScan } from '../scan/message-scan.ts';
import { MailError } from '../core/mail-error.ts';
import { authResultsField } from '../antispam/auth-results.ts';
import { EVERYONE, type BodyWatcher, type Check, type Verdict } from './check.ts';

function verdict(d: ScanDecision): Verdict {
  const report = { scan: { rule: d.rule, ...d.log } };
  switch (d.action) {
    case 'accept':
      return { kind: 'pass', edit: d, report };
    case 'quarantine':
      return { kind: 'quarantine', rule: d.rule, reason: d.reason, edit: d, report };
    case 'blackhole':
      return { kind: 'discard', rule: d.rule, reason: d.reason, report };
    case 'reject':
    case 'tempfail': {
      const reply = d.reply ?? (d.action === 'reject' ? { code: 550, enhanced: '5.7.1', text: 'Message refused' } : { code: 451, enhanced: '4.7.1', text: 'Try again later' });
      return { kind: 'refuse', error: new MailError(reply.code, reply.enhanced, reply.text, { rule: d.rule, reason: d.reason }), report };
    }
  }
}

export const contentScan: Check = {
  name: 'scan',
  asks: 'engines',
  watch: {
    who: EVERYONE,
    open(s, x): BodyWatcher {
      const scan = new MessageScan(s.snap.settings, {
        queueId: x.id,
        clientAddress: s.client.text,
        helo: s.helo ?? '',
        sender: x.sender,
        recipients: [...x.recipients],
        user: s.user?.name ?? null,
        relayed: s.relayRight.right !== null,
      });
      s.memo.scan = scan;
      return { feed: (chunk, ours) => scan.feed(chunk, ours), abort: () => scan.abort() };
    },
  },
  data: {
    who: EVERYONE,
    async run(s, x): Promise<Verdict> {
      const scan = s.memo.scan as MessageScan | undefined;
      if (!scan) throw new Error('the scan was not started with the message');
      s.memo.scan = undefined;
      // The earlier checks' authentication results become one Authentication-Results field, ours.
      const auth = authResultsField(s.snap.settings.hostname, x.added.auth);
      const checks = auth === null ? x.added : { ...x.added, headers: [auth, ...x.added.headers] };
      // The origin (past the upstream hosts) for the spam engine's own checks.
      return verdict(await scan.finish(() => x.contents(), checks, x.origin.text));
    },
  },
};
