// The one reply type for a refusal, from any layer (a relay rule, a spam
// check, the scanners, the DATA guard, the store): the reply code, the
// enhanced status, the text for the client, whether it is temporary, and the
// rule (the setting) that decided, for the log. The SMTP front end writes it
// to the wire and counts it in one place (src/smtp/front-end.ts). Anything
// thrown that is not a MailError is answered as temporary (fail closed: the
// sender keeps the mail).

import type { Decision } from './decision.ts';

export interface MailErrorOptions {
  /** The setting or rule that decided, e.g. "rule 4", "antispam.dnsbl[0]". */
  rule?: string;
  /** Why, in words, for the log (never sent to the client). */
  reason?: string;
  cause?: unknown;
}

export class MailError extends Error {
  readonly code: number;
  readonly enhanced: string;
  /** What the client reads after the code and the enhanced status. */
  readonly text: string;
  readonly temporary: boolean;
  readonly rule: string;
  readonly reason: string;

  constructor(code: number, enhanced: string, text: string, options: MailErrorOptions = {}) {
    // smtp-server writes `${responseCode} ${message}`; the patched send() keeps our enhanced status.
    super(`${enhanced} ${text}`, options.cause === undefined ? undefined : { cause: options.cause });
    if (!(code >= 400 && code <= 599)) throw new RangeError(`MailError code must be 4xx or 5xx, got ${code}`);
    this.name = 'MailError';
    this.code = code;
    this.enhanced = enhanced;
    this.text = text;
    this.temporary = code < 500;
    this.rule = options.rule ?? '';
    this.reason = options.reason ?? text;
  }

  /** smtp-server reads the code from here. */
  get responseCode(): number {
    return this.code;
  }

  /** A refusal of the relay rules. */
  static of(d: Decision): MailError {
    return new MailError(d.code, d.enhanced, d.text, { rule: d.rule, reason: d.trail.at(-1) ?? d.text });
  }

  static from(err: unknown): MailError {
    if (err instanceof MailError) return err;
    return new MailError(451, '4.3.0', 'Temporary local problem, please try again later', { cause: err, rule: 'internal', reason: err instanceof Error ? err.message : String(err) });
  }
}
