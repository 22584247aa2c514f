// Errors handed back to smtp-server carry the reply code and our enhanced
// status; the patched send() keeps the enhanced code we give.

import type { Decision } from '../core/decision.ts';

export type ReplyError = Error & { responseCode: number };

export function smtpError(code: number, enhanced: string, text: string): ReplyError {
  const err = new Error(`${enhanced} ${text}`) as ReplyError;
  err.responseCode = code;
  return err;
}

export function decisionError(d: Decision): ReplyError {
  return smtpError(d.code, d.enhanced, d.text);
}
