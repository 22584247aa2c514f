// Which commands a session may not use yet, answered the same way whichever
// of them the client tries first. Before STARTTLS, AUTH is refused on every
// listener, and on submission (where TLS and AUTH are required) every command
// that would start or carry mail is too, all with RFC 3207 4's
// "530 5.7.0 Must issue a STARTTLS command first". Once under TLS on
// submission, MAIL, RCPT and DATA without AUTH get RFC 4954 6's
// "530 5.7.0 Authentication required".
//
// Why 530 for AUTH too: RFC 3207 gives exactly this reply for any command
// but NOOP, EHLO, STARTTLS and QUIT when the server requires TLS; 538 5.7.11
// (RFC 4954 6) speaks of one mechanism needing encryption, and 503 5.5.1
// would call it a wrong order of commands. smtp-server answered AUTH "500
// command not recognized" (AUTH is not offered before TLS), RCPT "503 need
// MAIL", DATA "503 need RCPT" and MAIL "530": four stories for one rule.
// Pure: no I/O.

import type { ListenerMode } from '../config/document.ts';

export interface GateReply {
  code: number;
  enhanced: string;
  text: string;
}

/** Commands that would authenticate, start or carry mail, or probe mailboxes. */
const NEEDS_TLS_ON_SUBMISSION = new Set(['AUTH', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'VRFY', 'EXPN', 'ETRN']);
const NEEDS_AUTH_ON_SUBMISSION = new Set(['MAIL', 'RCPT', 'DATA', 'BDAT']);

export const STARTTLS_FIRST: GateReply = { code: 530, enhanced: '5.7.0', text: 'Must issue a STARTTLS command first' };
export const AUTH_FIRST: GateReply = { code: 530, enhanced: '5.7.0', text: 'Authentication required' };

/** `command` is the verb, upper case; null lets the command through to its handler. */
export function gateCommand(mode: ListenerMode, command: string, session: { secure: boolean; authenticated: boolean }): GateReply | null {
  if (!session.secure) {
    if (command === 'AUTH') return STARTTLS_FIRST;
    if (mode === 'submission' && NEEDS_TLS_ON_SUBMISSION.has(command)) return STARTTLS_FIRST;
    return null;
  }
  if (mode === 'submission' && !session.authenticated && NEEDS_AUTH_ON_SUBMISSION.has(command)) return AUTH_FIRST;
  return null;
}
