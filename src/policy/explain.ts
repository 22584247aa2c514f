// Asks the relay rules about one imagined transaction without sending mail:
// connect, AUTH (when a user is given), MAIL and RCPT, stopping at the first
// refusal. `mailwarden policy explain` and the open-relay test print this.

import type { Decision, RelayRight } from '../core/decision.ts';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { parseIp } from '../objects/ip.ts';
import { decideAuth, decideConnect, decideRecipient, decideSender, relayRight, type Client } from './rules.ts';

export interface ExplainInput {
  client: string;
  user?: string | null;
  listener?: string | null;
  from: string;
  to: string;
}

export interface Explanation {
  decision: Decision;
  /** Every step asked, in order; the last one decided. */
  steps: Decision[];
  listener: string | null;
  relayRight: RelayRight | null;
  /** Whether the message would be content-scanned (rule 7). */
  scanned: boolean | null;
}

export class ExplainInputError extends Error {}

export function parseClient(text: string): Client {
  const ip = parseIp(text);
  if (!ip.ok) throw new ExplainInputError(`--client "${text}": ${ip.reason}`);
  return { ip: ip.value, text };
}

/** The named listener, or the first mx listener, or null when there is none. */
export function pickListener(snap: Snapshot, name: string | null | undefined): ListenerDef | null {
  if (name) {
    const l = snap.listeners.get(name);
    if (!l) throw new ExplainInputError(`no listener named "${name}" (have: ${[...snap.listeners.keys()].join(', ') || 'none'})`);
    return l;
  }
  return snap.settings.listeners.find((l) => l.mode === 'mx') ?? snap.settings.listeners[0] ?? null;
}

export function explain(snap: Snapshot, input: ExplainInput): Explanation {
  const client = parseClient(input.client);
  const listener = pickListener(snap, input.listener);
  const steps: Decision[] = [];
  const done = (d: Decision, right: RelayRight | null = null): Explanation => {
    steps.push(d);
    const scanned = d.action === 'accept' && d.stage === 'rcpt' ? right === null || snap.settings.relaying.scan_relayed : null;
    return { decision: { ...d, trail: steps.flatMap((s) => s.trail) }, steps, listener: listener?.name ?? null, relayRight: right, scanned };
  };

  const connect = decideConnect(snap, client);
  if (connect.action !== 'accept') return done(connect);
  steps.push(connect);

  const user = input.user ?? null;
  if (user !== null) {
    const auth = decideAuth(snap, user);
    if (auth.action !== 'accept') return done(auth);
    steps.push(auth);
  }
  const facts = { client, listener, user };
  const mail = decideSender(snap, facts, input.from);
  if (mail.action !== 'accept') return done(mail);
  steps.push(mail);
  const rcpt = decideRecipient(snap, facts, input.to);
  return done(rcpt, rcpt.action === 'accept' ? relayRight(snap, facts).right : null);
}

/** The classic open-relay battery, for a relay whose local domain is `ours`. */
export function openRelayBattery(ours: string, victim = 'victim.example'): string[] {
  return [
    `user@${victim}`,
    `user%${victim}@${ours}`,
    `"user@${victim}"`,
    `"user@${victim}"@${ours}`,
    `@${ours}:user@${victim}`,
    `${victim}!user@${ours}`,
    `user@${victim}@${ours}`,
    `user@${victim}.`,
    'user@[192.0.2.7]',
    `USER@${victim.toUpperCase()}`,
    `"user%${victim}"@${ours}`,
    `user%${victim}%${ours}@${ours}`,
    `@${ours},@${victim}:user@${victim}`,
    `${victim}!user`,
    `user@${victim}.@${ours}`,
    'user@[IPv6:2001:db8::7]',
    '<postmaster>',
  ];
}

export interface OpenRelayRow {
  to: string;
  relayed: boolean;
  action: Decision['action'];
  code: number;
  enhanced: string;
  kind: Decision['kind'];
  rule: string;
}

/** The battery through the rules for one client: which addresses would be relayed. */
export function openRelayTest(snap: Snapshot, opts: { client: string; user?: string | null; domain?: string | null }): { client: string; domain: string; relayed: number; results: OpenRelayRow[] } {
  parseClient(opts.client);
  const ours = opts.domain ?? snap.settings.domains[0]?.name ?? snap.settings.hostname;
  const results = openRelayBattery(ours).map((to): OpenRelayRow => {
    const d = explain(snap, { client: opts.client, user: opts.user ?? null, to, from: '<probe@example.net>' }).decision;
    return { to, relayed: d.action === 'accept' && d.kind === 'relay', action: d.action, code: d.code, enhanced: d.enhanced, kind: d.kind, rule: d.rule };
  });
  return { client: opts.client, domain: ours, relayed: results.filter((r) => r.relayed).length, results };
}
