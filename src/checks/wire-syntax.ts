// The protocol's own refusals at MAIL FROM and RCPT TO, before any rule: a
// parameter we do not support (RFC 5321 4.1.1.11, in Postfix's words), one
// we could not read, an address that is broken UTF-8 or needs SMTPUTF8.

import { MailError } from '../core/mail-error.ts';
import { EVERYONE, PASS, type Check, type PathInput, type Verdict } from './check.ts';

function syntax(x: PathInput): Verdict {
  const refuse = (code: number, enhanced: string, text: string, reason: string): Verdict => ({ kind: 'refuse', error: new MailError(code, enhanced, text, { rule: 'syntax', reason }) });
  if (x.unsupported !== undefined) return refuse(555, '5.5.4', `Unsupported option: ${x.unsupported}`, `unsupported parameter ${x.unsupported}`);
  if (x.paramError) return refuse(501, '5.5.4', 'Invalid parameter', x.paramError);
  if (x.raw.includes('\ufffd')) return refuse(501, '5.5.2', 'Invalid UTF-8 in address', '5.5.2 Invalid UTF-8 in address');
  if (!x.smtputf8 && /[^\x00-\x7f]/.test(x.raw)) return refuse(553, '5.6.7', 'Non-ASCII address needs SMTPUTF8', '5.6.7 Non-ASCII address needs SMTPUTF8');
  return PASS;
}

export const wireSyntax: Check = {
  name: 'syntax',
  mail: { who: EVERYONE, run: (_s, x) => syntax(x) },
  rcpt: { who: EVERYONE, run: (_s, x) => syntax(x) },
};
