// The checks of the SMTP session, in the order the runner asks them at each
// stage (a stage stops at the first refusal). A new check is one file in this
// folder and one line here; docs/architecture.md has the table of stages.

import type { Check } from './check.ts';
import { contentRules } from './content-rules.ts';
import { contentScan } from './content-scan.ts';
import { dmarcCheck } from './dmarc.ts';
import { dnsbl } from './dnsbl.ts';
import { greylisting } from './greylisting.ts';
import { helo } from './helo.ts';
import { maxRecipients } from './max-recipients.ts';
import { queueSpace } from './queue-space.ts';
import { rateLimits } from './rate-limits.ts';
import { recipientList, recipientVerify } from './recipient-verify.ts';
import { relayRules } from './relay-rules.ts';
import { senderLogin } from './sender-login.ts';
import { senderLists } from './sender-lists.ts';
import { spfCheck } from './spf.ts';
import { wireSyntax } from './wire-syntax.ts';

export const CHECKS: readonly Check[] = [
  wireSyntax, //      MAIL, RCPT: parameters and UTF-8
  relayRules, //      connect, AUTH, MAIL, RCPT: the relay rules 1-6
  senderLogin, //     MAIL, end of DATA (logged-in clients): after the relay rules, which refuse MAIL
  //                  before AUTH on submission and bad syntax first, and before the spam checks'
  //                  DNS and queue work, which a forged sender should not cost
  dnsbl, //           connect, MAIL (direct clients), end of DATA (origin)
  helo, //            MAIL (direct clients)
  maxRecipients, //   RCPT
  // Recipient verification: after the relay rules (a relay refusal comes
  // first, and only a recipient they accepted as local is verified) and the
  // recipient limit (no probe for a recipient refused anyway); before
  // greylisting, so that an unknown recipient creates no greylist entry.
  recipientList, //   RCPT: domains[].verify_recipients list
  recipientVerify, // RCPT: domains[].verify_recipients directory, callout
  // Personal sender lists after recipient verification (only a real
  // recipient's lists count) and before greylisting (a blocked sender makes
  // no greylist entry); at the end of DATA before the content scan, which
  // reads whether every recipient allows the sender.
  senderLists, //     MAIL, RCPT, end of DATA (clients without a relay right)
  greylisting, //     RCPT (direct clients), end of DATA (origin)
  queueSpace, //      MAIL: room in the queue
  // Rate limits last at MAIL and RCPT: only what every other check accepted is
  // counted (a refused message or recipient costs no quota).
  rateLimits, //      MAIL, RCPT, end of DATA (a hold is reported to the commit)
  spfCheck, //        end of DATA
  dmarcCheck, //      end of DATA: after SPF, whose result it uses; before the content scan, which
  //                  writes the Authentication-Results field and need not scan mail refused here
  contentRules, //    end of DATA: attachment and content filters (src/content); before the content
  //                  scan, so that a blocked attachment costs no spam engine
  contentScan, //     DATA (fed as it arrives), end of DATA: antivirus and antispam engines
];
