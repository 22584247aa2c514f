// Asks the checks about one imagined transaction without sending mail:
// connect, AUTH (when a user is given), MAIL and RCPT, stopping at the first
// refusal, through the same runner and checks as the daemon's front end, so
// that what explain says and what the wire does cannot drift apart.
// `mailwarden policy explain`, the API and the open-relay test print this.
// A client inside a listener's trusted proxies is decided for the address it
// can claim in its PROXY header (see policy/proxy-path.ts), not for its own.

import type { Decision, RelayRight, Stage } from '../core/decision.ts';
import type { MailError } from '../core/mail-error.ts';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { parsePath } from '../address/path.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { describeRanges } from '../objects/networks.ts';
import type { AuthInput, PathInput, RcptInput } from './check.ts';
import { storedSender } from './paths.ts';
import { CHECKS } from './registry.ts';
import { CheckRunner, type SessionBase, type StageResult } from './runner.ts';
import { CheckServices } from './services.ts';
import type { Directories } from '../directory/directories.ts';
import { bestClaim, listenerTrusting, trustedProxyEntry } from '../policy/proxy-path.ts';
import { localIdentity, type Identity } from '../policy/identity.ts';
import { decideAuth, relayRight, type Client } from '../policy/rules.ts';

export interface ExplainInput {
  client: string;
  user?: string | null;
  /** Who `user` is, when the caller looked it up (a directory user); otherwise `user` names a local user. */
  identity?: Identity | null;
  listener?: string | null;
  from: string;
  to: string;
  /**
   * The client is the address the rules saw (a recorded decision replayed by
   * the impact preview, src/preview/): it already is what a trusted proxy
   * claimed, so the proxy path is not applied again, and without a listener
   * the first mx listener is used.
   */
  seen?: boolean;
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
  /** What the checks beyond the relay rules said (e.g. the blocklists), by check. */
  checks: Record<string, unknown>;
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
/** A directory was asked about the user and did not answer (AUTH would give 454 4.7.0). */
export class DirectoryUnanswered extends Error {}

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

/** The checks that answer from the settings alone: the relay rules, the syntax, the limits, HELO (the open-relay test, the API). */
export function offlineRunner(): CheckRunner {
  return new CheckRunner(
    CHECKS.filter((c) => c.asks === undefined),
    new CheckServices(),
  );
}

/** The checks the daemon runs that can be asked from here: the blocklists and DNS too (no greylist store, no queue, no message); the directories when given. */
export function onlineRunner(directories: Directories | null = null): CheckRunner {
  return new CheckRunner(CHECKS, new CheckServices({ directories }));
}

/** A refusal of a check other than the relay rules, as a Decision of the stage it came at. */
function asDecision(stage: Stage, r: StageResult, error: MailError): Decision {
  if (r.by === 'relay' && r.decision) return r.decision;
  const trail = [...(r.decision?.trail ?? []), `${r.by}: ${r.reason ?? error.reason}`];
  return { action: error.temporary ? 'tempfail' : 'reject', code: error.code, enhanced: error.enhanced, text: error.text, stage, kind: null, rule: error.rule, trail };
}

type Ask = { stage: 'connect'; base: SessionBase; input: null } | { stage: 'auth'; base: SessionBase; input: AuthInput } | { stage: 'mail'; base: SessionBase; input: PathInput } | { stage: 'rcpt'; base: SessionBase; input: RcptInput };

/** The transaction stage by stage, until the first refusal: yields what to ask the runner, receives its answer. */
function* transaction(snap: Snapshot, input: ExplainInput): Generator<Ask, Explanation, StageResult> {
  const own = parseClient(input.client);
  // Without a named listener, a proxy is asked about on the listener that trusts it.
  const listener = input.listener ? pickListener(snap, input.listener) : ((input.seen ? null : listenerTrusting(snap, own.ip)) ?? pickListener(snap, null));
  const { client, proxy, notes } = input.seen ? { client: own, proxy: null, notes: [] } : proxied(snap, listener, own);
  const steps: Decision[] = [];
  const checks: Record<string, unknown> = {};
  const name = input.identity?.name ?? input.user ?? null;
  const user = name === null ? null : (input.identity ?? localIdentity(snap, name));
  const base: SessionBase = { snap, listener, client, user, helo: null, localAddress: null, memos: new Map() };
  const done = (d: Decision, right: RelayRight | null = null): Explanation => {
    steps.push(d);
    const scanned = d.action === 'accept' && d.stage === 'rcpt' ? right === null || snap.settings.relaying.scan_relayed : null;
    return { decision: { ...d, trail: [...notes, ...steps.flatMap((s) => s.trail)] }, steps, listener: listener?.name ?? null, relayRight: right, scanned, proxy, checks };
  };
  const from = pathOf(input.from, true);
  const to = pathOf(input.to, false);
  const asks: Ask[] = [
    { stage: 'connect', base: { ...base, user: null }, input: null },
    ...(user === null ? [] : [{ stage: 'auth' as const, base: { ...base, user: null }, input: { user } }]),
    { stage: 'mail', base, input: from },
    { stage: 'rcpt', base, input: { ...to, sender: storedSender(from.path), accepted: 0, repeat: false } },
  ];
  for (const ask of asks) {
    // A name that is nobody is refused at AUTH as the daemon refuses it, before any check is asked.
    if (ask.stage === 'mail' && name !== null && user === null) return done(decideAuth(snap, name));
    const r = yield ask;
    Object.assign(checks, r.log);
    if (r.error) return done(asDecision(ask.stage, r, r.error));
    if (!r.decision) throw new Error(`the relay rules gave no decision at ${ask.stage}`);
    if (ask.stage === 'rcpt') return done(r.decision, relayRight(snap, { client, listener, user }).right);
    steps.push(r.decision);
  }
  throw new Error('unreachable: the transaction ends at RCPT');
}

/** The transaction through the checks that answer from the settings alone. */
export function explain(snap: Snapshot, input: ExplainInput, runner: CheckRunner = offlineRunner()): Explanation {
  const t = transaction(snap, input);
  let step = t.next();
  while (!step.done) {
    const a = step.value;
    step = t.next(runner.runSync(a.stage, a.base, a.input as never));
  }
  return step.value;
}

/**
 * explain() for a name that may be a directory user (the API's explain): the
 * directories are asked as AUTH asks them, everything else answers from the
 * settings alone. A directory that does not answer throws.
 */
export async function explainWithDirectories(snap: Snapshot, input: ExplainInput, directories: Directories | null): Promise<Explanation> {
  const { asked, note } = await directoryUser(snap, input, directories).catch((err: unknown) => {
    throw new DirectoryUnanswered(`the directories did not answer about user "${input.user ?? ''}": ${err instanceof Error ? err.message : String(err)}`);
  });
  return withNote(explain(snap, asked), note);
}

function withNote(x: Explanation, note: string | null): Explanation {
  return note ? { ...x, decision: { ...x.decision, trail: [note, ...x.decision.trail] } } : x;
}

/** The same transaction through every check the daemon runs that can be asked from here (DNS included): `policy explain`. */
export async function explainOnline(snap: Snapshot, input: ExplainInput, runner: CheckRunner = onlineRunner()): Promise<Explanation> {
  const { asked, note } = await directoryUser(snap, input, runner.services.directories);
  const t = transaction(snap, asked);
  let step = t.next();
  while (!step.done) {
    const a = step.value;
    step = t.next(await runner.run(a.stage, a.base, a.input as never));
  }
  return withNote(step.value, note);
}

/**
 * A user who is no local user, looked up in the directories (when the
 * runner has them), as AUTH would find it: the explanation then decides
 * with the directory's groups, and its trail says what the directory said.
 * A directory that does not answer throws, as it makes AUTH fail (454).
 */
async function directoryUser(snap: Snapshot, input: ExplainInput, directories: Directories | null): Promise<{ asked: ExplainInput; note: string | null }> {
  const name = input.user;
  if (input.identity !== undefined || !name || snap.users.has(name) || !directories || snap.settings.directories.length === 0) return { asked: input, note: null };
  const identity = await directories.lookup(snap, name);
  const note = identity
    ? `user "${name}" found in directory "${identity.directory ?? ''}": groups ${identity.groups.length ? identity.groups.map((g) => `"${g}"`).join(', ') : '(none)'}; addresses ${identity.addresses.length ? identity.addresses.join(', ') : '(none)'}`
    : `user "${name}" is neither a local user nor found in the directories (${snap.settings.directories.map((d) => `"${d.name}"`).join(', ')})`;
  return { asked: { ...input, identity }, note };
}

/** A path given on the command line: brackets optional, SMTPUTF8 assumed (the question is about the rules). */
function pathOf(text: string, allowNull: boolean): PathInput {
  return { raw: text, path: parsePath(text, { allowNull, requireBrackets: false }), smtputf8: true, wire: false };
}

/** For a trusted proxy of the listener: the address it can claim, which every rule then sees. */
function proxied(snap: Snapshot, listener: ListenerDef | null, own: Client): { client: Client; proxy: ProxyPath | null; notes: string[] } {
  const notes: string[] = [];
  const via = listener ? trustedProxyEntry(snap, listener, own.ip) : null;
  if (!listener || via === null) return { client: own, proxy: null, notes };
  const claim = bestClaim(snap);
  notes.push(`client ${own.text} is a trusted proxy of listener "${listener.name}" (trusted_proxies: ${via}): the address in its PROXY header is the client every rule sees, and it may claim any address`);
  if (claim) notes.push(`as a trusted proxy it can claim ${claim.as} ${claim.client.text} (${claim.entry}); deciding for that address`);
  else notes.push('no relay or upstream host to claim; deciding for its own address');
  return { client: claim?.client ?? own, proxy: { listener: listener.name, entry: via, claims: claim?.client.text ?? null, claims_as: claim?.as ?? null }, notes };
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
  const runner = offlineRunner();
  const run = (client: string, listener: string | null) =>
    openRelayBattery(ours).map((to) => {
      // A logged-in user probes with <>: relaying.sender_login would refuse a foreign probe sender at MAIL, and the battery is about recipients.
      const x = explain(snap, { client, listener, user: opts.user ?? null, to, from: opts.user ? '<>' : '<probe@example.net>' }, runner);
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
