// Asks the relay rules about one imagined transaction without sending mail:
// connect, AUTH (when a user is given), MAIL and RCPT, stopping at the first
// refusal. `mailwarden policy explain` and the open-relay test print this.
// A client inside a listener's trusted proxies is decided for the address it
// can claim in its PROXY header (see proxy-path.ts), not for its own.

import type { Decision, RelayRight } from '../core/decision.ts';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { describeRanges } from '../objects/networks.ts';
import { bestClaim, listenerTrusting, trustedProxyEntry } from './proxy-path.ts';
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
  /** Set when the client is a trusted proxy of the listener: the address it was decided for. */
  proxy: ProxyPath | null;
}

export interface ProxyPath {
  listener: string;
  /** The trusted_proxies entry the client matched. */
  entry: string;
  /** The address the proxy can claim (and was decided for), or null when it gains nothing by claiming. */
  claims: string | null;
  claims_as: 'relay host' | 'upstream host' | null;
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
  const own = parseClient(input.client);
  // Without a named listener, a proxy is asked about on the listener that trusts it.
  const listener = input.listener ? pickListener(snap, input.listener) : (listenerTrusting(snap, own.ip) ?? pickListener(snap, null));
  const notes: string[] = [];
  let client = own;
  let proxy: ProxyPath | null = null;
  const via = listener ? trustedProxyEntry(snap, listener, own.ip) : null;
  if (listener && via !== null) {
    const claim = bestClaim(snap);
    notes.push(`client ${own.text} is a trusted proxy of listener "${listener.name}" (trusted_proxies: ${via}): the address in its PROXY header is the client every rule sees, and it may claim any address`);
    if (claim) {
      notes.push(`as a trusted proxy it can claim ${claim.as} ${claim.client.text} (${claim.entry}); deciding for that address`);
      client = claim.client;
    } else {
      notes.push('no relay or upstream host to claim; deciding for its own address');
    }
    proxy = { listener: listener.name, entry: via, claims: claim?.client.text ?? null, claims_as: claim?.as ?? null };
  }
  const steps: Decision[] = [];
  const done = (d: Decision, right: RelayRight | null = null): Explanation => {
    steps.push(d);
    const scanned = d.action === 'accept' && d.stage === 'rcpt' ? right === null || snap.settings.relaying.scan_relayed : null;
    return { decision: { ...d, trail: [...notes, ...steps.flatMap((s) => s.trail)] }, steps, listener: listener?.name ?? null, relayRight: right, scanned, proxy };
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

/** The battery for one trusted proxy range, probed from its first address. */
export interface ProxyProbe {
  listener: string;
  network: string;
  ranges: string;
  probe: string;
  claims: string | null;
  claims_as: ProxyPath['claims_as'];
  relayed: number;
}

export interface OpenRelayReport {
  client: string;
  domain: string;
  relayed: number;
  results: OpenRelayRow[];
  /** Set when the client itself is a trusted proxy (its rows are for the address it can claim). */
  proxy: ProxyPath | null;
  /** Every trusted proxy range of every listener: a client there can claim any address. */
  proxies: ProxyProbe[];
}

/** The battery through the rules for one client (and for each trusted proxy range): which addresses would be relayed. */
export function openRelayTest(snap: Snapshot, opts: { client: string; user?: string | null; domain?: string | null }): OpenRelayReport {
  parseClient(opts.client);
  const ours = opts.domain ?? snap.settings.domains[0]?.name ?? snap.settings.hostname;
  const run = (client: string, listener: string | null) =>
    openRelayBattery(ours).map((to) => {
      const x = explain(snap, { client, listener, user: opts.user ?? null, to, from: '<probe@example.net>' });
      const d = x.decision;
      const row: OpenRelayRow = { to, relayed: d.action === 'accept' && d.kind === 'relay', action: d.action, code: d.code, enhanced: d.enhanced, kind: d.kind, rule: d.rule };
      return { row, proxy: x.proxy };
    });
  const mine = run(opts.client, null);
  const results = mine.map((m) => m.row);
  const proxies: ProxyProbe[] = [];
  for (const l of snap.settings.listeners) {
    for (const network of l.trusted_proxies) {
      const leaf = snap.networks.leaves(network)[0];
      if (!leaf) continue;
      const probe = parseClient(formatIp(leaf.range.from)).text;
      const rows = run(probe, l.name);
      proxies.push({ listener: l.name, network, ranges: describeRanges(snap.networks.ranges(network)), probe, claims: rows[0]?.proxy?.claims ?? null, claims_as: rows[0]?.proxy?.claims_as ?? null, relayed: rows.filter((r) => r.row.relayed).length });
    }
  }
  return { client: opts.client, domain: ours, relayed: results.filter((r) => r.relayed).length, results, proxy: mine[0]?.proxy ?? null, proxies };
}
