// The outcome of a policy question: what to answer on the wire, and why.
// Every decision carries a reason trail naming the rule and the objects that
// matched, so that logs and `policy explain` can show how it was reached.

export type Action = 'accept' | 'reject' | 'tempfail';
export type Stage = 'connect' | 'auth' | 'mail' | 'rcpt';
/** What a recipient is: mail for one of our domains, or mail we relay elsewhere. */
export type Kind = 'inbound' | 'relay';
/** How a client earned the right to relay, when it has one. */
export type RelayRight = 'host' | 'auth';

export interface Decision {
  readonly action: Action;
  /** SMTP reply code, e.g. 250, 451, 554. */
  readonly code: number;
  /** RFC 3463 enhanced status, e.g. "5.7.1". */
  readonly enhanced: string;
  /** Text sent to the client. Never names internal objects. */
  readonly text: string;
  readonly stage: Stage;
  readonly kind: Kind | null;
  /** The rule that decided, e.g. "rule 4". */
  readonly rule: string;
  /** Every step that led here, for logs and `policy explain`. */
  readonly trail: readonly string[];
}

interface DecisionParts {
  stage: Stage;
  rule: string;
  trail: readonly string[];
  text: string;
}

export function accept(parts: DecisionParts & { code?: number; enhanced?: string; kind?: Kind | null }): Decision {
  return {
    action: 'accept',
    code: parts.code ?? 250,
    enhanced: parts.enhanced ?? '2.0.0',
    text: parts.text,
    stage: parts.stage,
    kind: parts.kind ?? null,
    rule: parts.rule,
    trail: [...parts.trail],
  };
}

export function reject(parts: DecisionParts & { code: number; enhanced: string }): Decision {
  if (parts.code < 500 || parts.code > 599) throw new Error(`reject needs a 5xx code, got ${parts.code}`);
  return { action: 'reject', code: parts.code, enhanced: parts.enhanced, text: parts.text, stage: parts.stage, kind: null, rule: parts.rule, trail: [...parts.trail] };
}

export function tempfail(parts: DecisionParts & { code: number; enhanced: string }): Decision {
  if (parts.code < 400 || parts.code > 499) throw new Error(`tempfail needs a 4xx code, got ${parts.code}`);
  return { action: 'tempfail', code: parts.code, enhanced: parts.enhanced, text: parts.text, stage: parts.stage, kind: null, rule: parts.rule, trail: [...parts.trail] };
}

/** The SMTP reply line for a decision: "554 5.7.1 Relaying denied". */
export function replyLine(d: Decision): string {
  return `${d.code} ${d.enhanced} ${d.text}`;
}
