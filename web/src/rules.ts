// What the Explain page says about a decision, in plain words: a one-line
// description of each rule (docs/relay-rules.md), and what would really scan
// a message (the relayed-mail switch alone says nothing when no engine is
// on). Pure functions, unit-tested in test/web/rules.test.ts.

/** One line per rule name the decisions carry. */
const RULES: Record<string, string> = {
  'rule 1': 'Blocked hosts/networks: a blocked client that is neither an upstream nor a relay host is refused at connect.',
  'rule 2': '"Allow upstream/relay hosts only" is on: any other client is refused at connect.',
  'rule 3': 'A recipient in one of our domains is accepted as inbound mail from anyone not refused at connect.',
  'rule 4': 'A recipient elsewhere is relayed only for a client with a relay right: an allowed relay host, or a user allowed by Authenticated Relay.',
  'rule 5': 'A recipient with routing tricks (%, !, a quoted @, two @) is refused from a client without a relay right.',
  'rule 6': 'RCPT TO:<postmaster> without a domain is accepted as local mail.',
  'rule 7': 'A message from a client with a relay right is relayed mail: scanned only when "Scan relayed messages" is on.',
  'rule 8': 'The open-relay guard: settings that let anyone relay are refused unless acknowledged.',
  submission: 'On a submission listener, MAIL needs AUTH first.',
  syntax: 'The address must follow SMTP syntax (RFC 5321).',
  auth: 'The user name and password must be right.',
  internal: 'An internal error: the client is told to try again later.',
};

/** The AUTH step of rule 4 has its own wording: that is what is decided there. */
const AUTH_RULE_4 = 'AUTH: the user must exist, be enabled, Authenticated Relay must be on, and the user (or a group of theirs) must be named in Users or User groups.';

/** A one-line description of the rule that decided, or null for a rule without one. */
export function describeRule(rule: string, stage?: string): string | null {
  if (rule === 'rule 4' && stage === 'auth') return AUTH_RULE_4;
  if (RULES[rule]) return RULES[rule]!;
  if (rule.startsWith('antispam.dnsbl')) return 'A DNS blocklist lists the client.';
  if (rule.startsWith('antispam.')) return 'An antispam check on where the mail comes from.';
  if (rule.startsWith('limits.')) return 'A limit of the Limits settings.';
  return null;
}

/** Every rule with its description, for the legend on the page. */
export const RULE_LEGEND: readonly (readonly [string, string])[] = ['rule 1', 'rule 2', 'rule 5', 'rule 6', 'rule 3', 'rule 4', 'rule 7', 'rule 8'].map((r) => [r, RULES[r]!] as const);

export interface Engines {
  malware: boolean;
  spam: boolean;
  /** The spam engine's name, e.g. SpamAssassin. */
  spamEngine?: string;
}

/**
 * What would scan the message's content: `scanned` is the relay rule's answer
 * (rule 7: relayed mail only with "Scan relayed messages"); null when the
 * message never gets to DATA.
 */
export function scanVerdict(scanned: boolean | null, engines: Engines | null): string {
  if (scanned === null) return '–';
  if (!scanned) return 'no: relayed mail is not scanned ("Scan relayed messages" is off)';
  if (!engines) return 'if an engine is on (malware or spam scanning)';
  const on = [engines.malware ? 'malware (clamd)' : null, engines.spam ? `spam (${engines.spamEngine ?? 'engine'})` : null].filter((x): x is string => x !== null);
  if (on.length === 0) return 'no: no engine is on (malware and spam scanning are both off)';
  return `yes: ${on.join(' and ')}`;
}
