// The impact preview's verdict over recorded traffic: every recorded RCPT
// decision is replayed under the active revision and under the candidate
// (replay.ts), and the two answers are compared — never the candidate against
// what was answered then, so that the checks the replay cannot ask
// (blocklists, greylisting, rate limits, scans) never show up as changes.
// The differences are grouped by client: what would now be refused, what
// would now be accepted or relayed, what another rule would decide, and what
// could not be replayed and why. Pure: the caller reads the tuples and feeds
// them in (in slices, so that a large window never holds the event loop).

import type { Action, Kind, Stage } from '../core/decision.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { parseIp, rangeContains } from '../objects/ip.ts';
import type { DecisionTuple } from '../tracking/tracking-reader.ts';
import { refusedByOtherCheck, Replayer, type Answer, type DirectoryAnswers, type NotReplayed } from './replay.ts';

/** One side of a change: how a revision answers. `code` is null for mail no listener would receive. */
export interface RuleRef {
  action: Action;
  code: number | null;
  rule: string;
  stage: Stage;
  kind: Kind | null;
  why: string;
}

export interface Transition {
  /** Under the active revision. */
  before: RuleRef;
  /** Under the candidate. */
  after: RuleRef;
  rcpts: number;
}

export interface Counted {
  value: string;
  rcpts: number;
}

/** Everything of one kind of change for one client. */
export interface ClientImpact {
  client: string;
  /** The smallest network object (host, network or range) holding the client, in the candidate or else the active revision: "printer-2". */
  network: string | null;
  /** RCPT commands (recipients) recorded. */
  rcpts: number;
  /** Distinct recipients among them: see docs/preview.md. */
  tuples: number;
  /** Envelope senders, most first ('<>' for the null sender), at most TOP_N; `more_senders` counts the rest. */
  senders: Counted[];
  more_senders: number;
  recipients: Counted[];
  more_recipients: number;
  /** Logins seen (at most TOP_N). */
  users: string[];
  listeners: string[];
  /** Active → candidate answers, most first. */
  rules: Transition[];
  /** ISO times of the first and last recorded decision. */
  first: string;
  last: string;
}

export interface NotReplayedRow {
  reason: string;
  rcpts: number;
  tuples: number;
  clients: string[];
  more_clients: number;
}

export interface ImpactPreview {
  days: number;
  since: string;
  until: string;
  active_revision: number;
  recorded: {
    tuples: number;
    rcpts: number;
    /** The tuple limit was reached: older or rarer decisions were not read. */
    truncated: boolean;
    limit: number;
    first: string | null;
    last: string | null;
  };
  would_now_refuse: ClientImpact[];
  /** Accepted as relay or as inbound by the candidate (`rules[].after.kind`). */
  would_now_accept: ClientImpact[];
  /** The same outcome, decided by another rule (or with another code). */
  rule_changes: ClientImpact[];
  not_replayed: NotReplayedRow[];
  totals: {
    replayed_rcpts: number;
    unchanged_rcpts: number;
    would_now_refuse: { rcpts: number; clients: number };
    would_now_accept: { rcpts: number; clients: number; relay: number; inbound: number };
    rule_changes: { rcpts: number; clients: number };
    not_replayed: { rcpts: number; tuples: number };
  };
  /** The candidate would refuse mail the active revision accepts: Apply shows a caution. */
  caution: boolean;
  /** One line: "would now refuse: 132 recipients from 10.1.2.3 (printer-2, rule 4) over 7 days; would now relay: 3 clients". */
  summary: string;
}

export const TOP_N = 10;

type Change = 'refuse' | 'accept' | 'rule';

class ClientGroup {
  readonly client: string;
  rcpts = 0;
  tuples = 0;
  first = Infinity;
  last = -Infinity;
  readonly senders = new Map<string, number>();
  readonly recipients = new Map<string, number>();
  readonly users = new Set<string>();
  readonly listeners = new Set<string>();
  readonly rules = new Map<string, Transition>();

  constructor(client: string) {
    this.client = client;
  }

  add(t: DecisionTuple, before: RuleRef, after: RuleRef): void {
    this.rcpts += t.count;
    this.tuples++;
    this.first = Math.min(this.first, t.first);
    this.last = Math.max(this.last, t.last);
    const sender = t.sender === '' ? '<>' : t.sender;
    this.senders.set(sender, (this.senders.get(sender) ?? 0) + t.count);
    this.recipients.set(t.recipient, (this.recipients.get(t.recipient) ?? 0) + t.count);
    if (t.user !== null) this.users.add(t.user);
    if (t.listener !== null) this.listeners.add(t.listener);
    const key = JSON.stringify([before.action, before.code, before.rule, before.stage, before.kind, after.action, after.code, after.rule, after.stage, after.kind]);
    const tr = this.rules.get(key);
    if (tr) tr.rcpts += t.count;
    else this.rules.set(key, { before, after, rcpts: t.count });
  }

  view(network: string | null): ClientImpact {
    const senders = top(this.senders);
    const recipients = top(this.recipients);
    return {
      client: this.client,
      network,
      rcpts: this.rcpts,
      tuples: this.tuples,
      senders: senders.list,
      more_senders: senders.more,
      recipients: recipients.list,
      more_recipients: recipients.more,
      users: [...this.users].sort().slice(0, TOP_N),
      listeners: [...this.listeners].sort(),
      rules: [...this.rules.values()].sort((a, b) => b.rcpts - a.rcpts),
      first: new Date(this.first).toISOString(),
      last: new Date(this.last).toISOString(),
    };
  }
}

function top(m: Map<string, number>): { list: Counted[]; more: number } {
  const all = [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return { list: all.slice(0, TOP_N).map(([value, rcpts]) => ({ value, rcpts })), more: Math.max(0, all.length - TOP_N) };
}

class ReasonGroup {
  rcpts = 0;
  tuples = 0;
  readonly clients = new Map<string, number>();
}

const ref = (a: Answer): RuleRef => ({ action: a.action, code: a.code, rule: a.rule, stage: a.stage, kind: a.kind, why: a.why });
const accepted = (r: { action: Action }) => r.action === 'accept';

export interface ImpactOptions {
  active: Snapshot;
  candidate: Snapshot;
  /** Directory logins as looked up for each snapshot (identities.ts). */
  directories?: { active: DirectoryAnswers; candidate: DirectoryAnswers };
  days: number;
  /** Epoch ms of the window read. */
  since: number;
  until: number;
  limit: number;
}

/** Takes recorded decisions one by one (add), then says what the candidate would change (finish). */
export class ImpactBuilder {
  private readonly opts: ImpactOptions;
  private readonly active: Replayer;
  private readonly candidate: Replayer;
  private readonly groups: Record<Change, Map<string, ClientGroup>> = { refuse: new Map(), accept: new Map(), rule: new Map() };
  private readonly skipped = new Map<string, ReasonGroup>();
  private readonly networks = new Map<string, string | null>();
  private tuples = 0;
  private rcpts = 0;
  private replayed = 0;
  private unchanged = 0;
  private first = Infinity;
  private last = -Infinity;

  constructor(opts: ImpactOptions) {
    this.opts = opts;
    this.active = new Replayer(opts.active, opts.directories?.active);
    this.candidate = new Replayer(opts.candidate, opts.directories?.candidate);
  }

  add(t: DecisionTuple): void {
    this.tuples++;
    this.rcpts += t.count;
    this.first = Math.min(this.first, t.first);
    this.last = Math.max(this.last, t.last);
    const a = this.active.replay(t);
    if (!a.ok) return this.skip(t, reasonText(a.reason, 'active'));
    const c = this.candidate.replay(t);
    let after: RuleRef;
    if (c.ok) after = ref(c.answer);
    else if (c.reason.kind === 'listener') {
      // The change removes (or renames) the listener this mail came in on: nothing would receive it there.
      after = { action: 'reject', code: null, rule: `listener "${c.reason.listener}" removed`, stage: 'connect', kind: null, why: `the candidate has no listener "${c.reason.listener}": mail sent to it would not be received there` };
    } else return this.skip(t, reasonText(c.reason, 'candidate'));
    const before = ref(a.answer);
    this.replayed += t.count;
    const change = changeOf(before, after);
    if (change === null) {
      this.unchanged += t.count;
      return;
    }
    // Refused then by a check the replay cannot ask: its answer stands, whatever the relay rules now say.
    if (change !== 'rule' && refusedByOtherCheck(t)) return this.skip(t, `refused then by ${t.rule ?? 'an unnamed check'} (${t.code ?? '?'}), which the preview does not replay: left out of the changes`);
    const map = this.groups[change];
    let g = map.get(t.client);
    if (!g) map.set(t.client, (g = new ClientGroup(t.client)));
    g.add(t, before, after);
  }

  private skip(t: DecisionTuple, reason: string): void {
    let g = this.skipped.get(reason);
    if (!g) this.skipped.set(reason, (g = new ReasonGroup()));
    g.rcpts += t.count;
    g.tuples++;
    g.clients.set(t.client, (g.clients.get(t.client) ?? 0) + t.count);
  }

  finish(truncated: boolean): ImpactPreview {
    const o = this.opts;
    const view = (c: Change) => [...this.groups[c].values()].map((g) => g.view(this.networkOf(g.client))).sort((a, b) => b.rcpts - a.rcpts || (a.client < b.client ? -1 : 1));
    const refuse = view('refuse');
    const accept = view('accept');
    const rule = view('rule');
    const sum = (l: ClientImpact[]) => l.reduce((n, g) => n + g.rcpts, 0);
    const byKind = (k: Kind) => accept.reduce((n, g) => n + g.rules.filter((r) => r.after.kind === k).reduce((m, r) => m + r.rcpts, 0), 0);
    const notReplayed = [...this.skipped]
      .map(([reason, g]): NotReplayedRow => {
        const clients = [...g.clients].sort((a, b) => b[1] - a[1]).map(([c]) => c);
        return { reason, rcpts: g.rcpts, tuples: g.tuples, clients: clients.slice(0, TOP_N), more_clients: Math.max(0, clients.length - TOP_N) };
      })
      .sort((a, b) => b.rcpts - a.rcpts);
    const report: ImpactPreview = {
      days: o.days,
      since: new Date(o.since).toISOString(),
      until: new Date(o.until).toISOString(),
      active_revision: o.active.revision,
      recorded: {
        tuples: this.tuples,
        rcpts: this.rcpts,
        truncated,
        limit: o.limit,
        first: this.tuples ? new Date(this.first).toISOString() : null,
        last: this.tuples ? new Date(this.last).toISOString() : null,
      },
      would_now_refuse: refuse,
      would_now_accept: accept,
      rule_changes: rule,
      not_replayed: notReplayed,
      totals: {
        replayed_rcpts: this.replayed,
        unchanged_rcpts: this.unchanged,
        would_now_refuse: { rcpts: sum(refuse), clients: refuse.length },
        would_now_accept: { rcpts: sum(accept), clients: accept.length, relay: byKind('relay'), inbound: byKind('inbound') },
        rule_changes: { rcpts: sum(rule), clients: rule.length },
        not_replayed: { rcpts: notReplayed.reduce((n, r) => n + r.rcpts, 0), tuples: notReplayed.reduce((n, r) => n + r.tuples, 0) },
      },
      caution: refuse.length > 0,
      summary: '',
    };
    report.summary = summarize(report);
    return report;
  }

  /** The smallest host, network or range object holding the client: the candidate's naming first. */
  private networkOf(client: string): string | null {
    if (this.networks.has(client)) return this.networks.get(client) ?? null;
    const ip = parseIp(client);
    const name = ip.ok ? (smallestObject(this.opts.candidate, ip.value) ?? smallestObject(this.opts.active, ip.value)) : null;
    this.networks.set(client, name);
    return name;
  }
}

function smallestObject(snap: Snapshot, ip: bigint): string | null {
  let best: { name: string; size: bigint } | null = null;
  for (const d of snap.settings.networks) {
    if (d.type === 'group') continue;
    const leaf = snap.networks.leaves(d.name)[0];
    if (!leaf || !rangeContains(leaf.range, ip)) continue;
    const size = leaf.range.to - leaf.range.from;
    if (!best || size < best.size) best = { name: d.name, size };
  }
  return best?.name ?? null;
}

/** What changes between the two answers: the outcome (refuse / accept), only the rule, or nothing. */
export function changeOf(before: RuleRef, after: RuleRef): Change | null {
  if (accepted(before) && !accepted(after)) return 'refuse';
  if (!accepted(before) && accepted(after)) return 'accept';
  if (before.rule !== after.rule || before.code !== after.code || before.stage !== after.stage || before.kind !== after.kind) return 'rule';
  return null;
}

function reasonText(r: NotReplayed, side: 'active' | 'candidate'): string {
  const where = side === 'active' ? 'the active revision' : 'the candidate';
  switch (r.kind) {
    case 'listener':
      return `listener "${r.listener}" is not in ${where}`;
    case 'directory-user':
      return `directory user under ${where}: ${r.detail}`;
    case 'no-recipient':
      return 'refused before RCPT: no recipient recorded';
    case 'bad-facts':
      return 'recorded client address cannot be read';
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "132 recipients from 10.1.2.3 (printer-2, rule 4)": a group as the summary and the CLI name it. */
export function describeGroup(g: ClientImpact): string {
  const rule = g.rules[0]?.after.rule;
  const tags = [g.network, rule].filter((x): x is string => Boolean(x));
  return `${plural(g.rcpts, 'recipient')} from ${g.client}${tags.length ? ` (${tags.join(', ')})` : ''}`;
}

/** What the candidate accepts that the active revision refuses: 'relay', 'accept' or both. */
export function acceptVerb(groups: readonly ClientImpact[]): string {
  const kinds = new Set(groups.flatMap((g) => g.rules.map((r) => r.after.kind)));
  if (kinds.size === 1 && kinds.has('relay')) return 'relay';
  if (!kinds.has('relay')) return 'accept';
  return 'relay or accept';
}

function summarize(r: ImpactPreview): string {
  const over = `over ${plural(r.days, 'day')}`;
  if (r.recorded.tuples === 0) return `no recorded decisions ${over}: nothing to replay`;
  const parts: string[] = [];
  const refuse = r.would_now_refuse;
  if (refuse.length > 0 && refuse[0]) {
    const rest = refuse.slice(1);
    const more = rest.length ? ` and ${plural(rest.reduce((n, g) => n + g.rcpts, 0), 'recipient')} from ${plural(rest.length, 'other client')}` : '';
    parts.push(`would now refuse: ${describeGroup(refuse[0])}${more} ${over}`);
  }
  if (r.would_now_accept.length > 0) parts.push(`would now ${acceptVerb(r.would_now_accept)}: ${plural(r.would_now_accept.length, 'client')}`);
  if (parts.length === 0) parts.push(`no change for the ${plural(r.totals.replayed_rcpts, 'recipient')} replayed ${over}`);
  if (r.rule_changes.length > 0) parts.push(`another rule would decide for ${plural(r.rule_changes.length, 'client')}`);
  if (r.totals.not_replayed.rcpts > 0) parts.push(`${plural(r.totals.not_replayed.rcpts, 'recipient')} not replayed`);
  if (r.recorded.truncated) parts.push(`only the ${plural(r.recorded.tuples, 'most frequent decision')} were read`);
  return parts.join('; ');
}
