// Errors that know how to answer an SMTP client: a reply code, an enhanced
// status and whether the failure is temporary. Anything that is not a
// MailError is treated as temporary (fail closed: the sender keeps the mail).

export class MailError extends Error {
  readonly code: number;
  readonly enhanced: string;
  readonly temporary: boolean;

  constructor(code: number, enhanced: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    if (!(code >= 400 && code <= 599)) throw new RangeError(`MailError code must be 4xx or 5xx, got ${code}`);
    this.name = 'MailError';
    this.code = code;
    this.enhanced = enhanced;
    this.temporary = code < 500;
  }

  static from(err: unknown): MailError {
    if (err instanceof MailError) return err;
    return new MailError(451, '4.3.0', 'Temporary local problem, please try again later', { cause: err });
  }
}
