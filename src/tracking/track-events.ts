// What a log line means for message tracking, without any I/O: the daemon's
// structured events (connect, rcpt, queued, delivery, dsn.queued...) become
// TrackEntry rows (one per recipient; a refusal at connect, MAIL, RCPT or
// DATA gets its own, keyed CID:t:n), updates of those rows, and TrackEvent
// rows for the timeline. A connection's facts that later lines lack (its
// listener, HELO, login, the RCPT answers of the transaction under way) are
// kept per connection id until it closes; the map is bounded, and a line
// whose connection is unknown (forgotten, or tracking switched on meanwhile)
// is recorded with what it carries itself.

import type { LogFields } from '../log/logger.ts';
import { bareMessageId } from './track-query.ts';
import type { TrackBatch, TrackEntry, TrackEvent, TrackStatus, TrackUpdate } from './tracking-store.ts';

/** Connections remembered at once; past it the oldest is forgotten (its later lines are still recorded, with less). */
export const MAX_CONNECTIONS = 20_000;
/** Accepted RCPTs remembered per transaction (limits.max_recipients may allow more; those get no RCPT facts). */
const MAX_ACCEPTED = 1000;
/** Longest reply, rule or other text kept in an entry. */
const MAX_TEXT = 500;
/** Longest event (its fields as JSON) kept whole; past it the bulky fields go first. */
const MAX_EVENT_JSON = 4096;

/** The events kept for the timeline (others, like listening or config lines, are not about a message). */
export const TRACKED_EVENTS = new Set([
  'connect', 'auth', 'auth.blocked', 'command.refused', 'mail', 'rcpt', 'data.refused', 'data.error', 'antispam.refused', 'antispam.origin_fallback',
  'scan.refused', 'scan.blackholed', 'queued', 'quarantined', 'delivery', 'dsn.queued', 'dsn.dropped', 'queue.removed', 'queue.admin', 'quarantine.admin',
  // A recipient's (or an administrator's) release or delete of quarantined mail (src/quarantine), in the message's timeline.
  'quarantine.released', 'quarantine.deleted',
  'disconnect',
]);

interface Accepted {
  n: number;
  recipient: string;
  rule: string | null;
  code: number | null;
  kind: TrackEntry['kind'];
  used: boolean;
}

interface Conn {
  client: string | null;
  listener: string | null;
  helo: string | null;
  user: string | null;
  /** The transaction under way (0 before the first MAIL). */
  tx: number;
  /** RCPT commands of the transaction so far. */
  rcpts: number;
  sender: string | null;
  accepted: Accepted[];
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const cut = (v: string | null): string | null => (v !== null && v.length > MAX_TEXT ? v.slice(0, MAX_TEXT) : v);

function refusalStatus(action: unknown, code: number | null): TrackStatus {
  if (action === 'tempfail') return 'tempfailed';
  if (action === 'reject') return 'refused';
  return code !== null && code >= 400 && code < 500 ? 'tempfailed' : 'refused';
}

const DELIVERY_STATUS: Record<string, TrackStatus> = { delivered: 'delivered', deferred: 'deferred', failed: 'bounced' };

/**
 * A log line's fields as the JSON of an event row, bounded. Taken at once (a
 * snapshot: the line's objects are not ours to keep), and parsed again only
 * if something reads `fields` (the memory store, a test): the SQL stores
 * write the text as it is, so the mail path pays one stringify per line.
 */
export function boundedJson(f: LogFields): string {
  let json: string;
  try {
    json = JSON.stringify(f);
  } catch {
    return '{"unreadable":true}';
  }
  if (json.length <= MAX_EVENT_JSON) return json;
  const slim: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) {
    if (k === 'checks' || k === 'trail' || k === 'scan' || k === 'recipients') continue;
    slim[k] = typeof v === 'string' && v.length > MAX_TEXT ? v.slice(0, MAX_TEXT) : v;
  }
  slim.truncated = true;
  const again = JSON.stringify(slim);
  return again.length <= MAX_EVENT_JSON ? again : '{"truncated":true}';
}

/** An event whose `fields` are parsed from its JSON when first read. */
function eventOf(at: number, cid: string | null, tx: number | null, queue_id: string | null, event: string, json: string): TrackEvent {
  let parsed: Record<string, unknown> | null = null;
  return {
    at,
    cid,
    tx,
    queue_id,
    event,
    json,
    get fields(): Record<string, unknown> {
      return (parsed ??= JSON.parse(json) as Record<string, unknown>);
    },
  };
}

export class TrackInterpreter {
  private readonly conns = new Map<string, Conn>();
  private readonly node: string;
  private readonly maxConnections: number;

  constructor(node: string, maxConnections = MAX_CONNECTIONS) {
    this.node = node;
    this.maxConnections = maxConnections;
  }

  /** Connections remembered now (bounded by MAX_CONNECTIONS). */
  get connections(): number {
    return this.conns.size;
  }

  private conn(cid: string, f: LogFields): Conn {
    let c = this.conns.get(cid);
    if (!c) {
      c = { client: str(f.client), listener: str(f.listener), helo: null, user: null, tx: 0, rcpts: 0, sender: null, accepted: [] };
      this.conns.set(cid, c);
      if (this.conns.size > this.maxConnections) this.conns.delete(this.conns.keys().next().value!);
    }
    return c;
  }

  private entry(at: number, cid: string | null, c: Conn | null, e: Partial<TrackEntry> & Pick<TrackEntry, 'key' | 'status'>): TrackEntry {
    return {
      at,
      updated: at,
      node: this.node,
      cid,
      tx: c?.tx ?? null,
      queue_id: null,
      client: c?.client ?? null,
      helo: c?.helo ?? null,
      listener: c?.listener ?? null,
      user: c?.user ?? null,
      sender: null,
      recipient: null,
      message_id: null,
      subject: null,
      size: null,
      kind: null,
      rule: null,
      code: null,
      reply: null,
      attempts: 0,
      relay: null,
      rcpt_action: null,
      rcpt_rule: null,
      rcpt_code: null,
      first: true,
      ...e,
    };
  }

  /** Takes one log line; adds what it means to `out`. */
  take(event: string, f: LogFields, at: number, out: TrackBatch): void {
    if (!TRACKED_EVENTS.has(event)) return;
    const cid = str(f.cid);
    const c = cid !== null ? this.conn(cid, f) : null;
    let tx: number | null = c ? 0 : null;
    switch (event) {
      case 'connect': {
        c!.client = str(f.client) ?? c!.client;
        c!.listener = str(f.listener) ?? c!.listener;
        if (f.action !== 'accept') {
          const code = num(f.code);
          out.entries.push(this.entry(at, cid, c, { key: `${cid}:0:0`, tx: 0, status: refusalStatus(f.action, code), rule: str(f.rule), code, reply: cut(str(f.text)) }));
        }
        break;
      }
      case 'auth':
        if (f.action === 'accept') c!.user = str(f.user);
        break;
      case 'mail': {
        // Logged only when refused: a transaction of its own, without recipients.
        const n = num(f.tx) ?? c!.tx + 1;
        this.newTx(c!, n, str(f.sender));
        if (str(f.helo)) c!.helo = str(f.helo);
        tx = n;
        const code = num(f.code);
        out.entries.push(this.entry(at, cid, c, { key: `${cid}:${n}:0`, status: refusalStatus(f.action, code), sender: str(f.sender), rule: str(f.rule), code, reply: cut(str(f.text)) }));
        break;
      }
      case 'rcpt':
        tx = this.rcpt(c!, cid!, f, at, out);
        break;
      case 'data.refused':
      case 'antispam.refused':
      case 'scan.refused':
      case 'data.error': {
        if (event === 'data.error' && f.committed === true) break;
        tx = c ? c.tx : null;
        const code = event === 'data.error' ? 451 : num(f.code);
        const status = event === 'data.error' ? 'tempfailed' : refusalStatus(f.action, code);
        const rule = event === 'data.error' ? 'internal' : str(f.rule);
        const reply = cut(str(f.reason) ?? str(f.problem) ?? str(f.error));
        this.endTx(c, cid, f, at, out, (a, i) => ({ key: `${cid ?? str(f.id)}:${c?.tx ?? 0}:${a?.n ?? i}`, status, rule, code, reply }));
        break;
      }
      case 'scan.blackholed': {
        tx = c ? c.tx : null;
        const id = str(f.id);
        this.endTx(c, cid, f, at, out, (_a, i) => ({ key: `${id}:${i}`, queue_id: id, status: 'discarded', rule: str(f.rule), code: 250, reply: cut(str(f.reason)) }));
        break;
      }
      case 'queued':
      case 'quarantined':
        tx = c ? c.tx : null;
        this.stored(event, c, cid, f, at, out);
        break;
      case 'delivery': {
        const id = str(f.id);
        const status = DELIVERY_STATUS[String(f.status)];
        if (id && status) {
          out.updates.push({ queue_id: id, recipient: str(f.recipient), updated: at, status, rule: 'delivery', code: num(f.code), reply: cut(str(f.response)), relay: str(f.relay), attempts: num(f.attempt) ?? undefined } as TrackUpdate);
        }
        break;
      }
      case 'dsn.queued': {
        const id = str(f.id);
        if (id) {
          out.entries.push(this.entry(at, null, null, { key: `${id}:0`, queue_id: id, sender: '', recipient: str(f.to), kind: 'relay', status: 'queued', rule: 'dsn', reply: cut(`${String(f.type)} notification of ${String(f.of)}`) }));
        }
        break;
      }
      case 'queue.removed':
        if (typeof f.id === 'string' && f.reason === 'deleted by the administrator') {
          out.updates.push({ queue_id: f.id, recipient: null, onlyIf: ['queued', 'deferred', 'held'], updated: at, status: 'removed', rule: 'admin', reply: 'deleted by the administrator' });
        }
        break;
      case 'queue.admin':
      case 'quarantine.admin':
        this.admin(f, at, out);
        break;
      default:
    }
    // A DSN's line is about the message it reports on: its timeline shows it.
    const queueId = event === 'dsn.queued' ? str(f.of) : str(f.id);
    const connectionLevel = event === 'disconnect' || event === 'auth' || event === 'auth.blocked' || event === 'command.refused';
    out.events.push(eventOf(at, cid, connectionLevel ? (c ? 0 : null) : tx, queueId, event, boundedJson(f)));
    if (event === 'disconnect' && cid !== null) this.conns.delete(cid);
  }

  private newTx(c: Conn, n: number, sender: string | null): void {
    c.tx = n;
    c.rcpts = 0;
    c.sender = sender;
    c.accepted = [];
  }

  private rcpt(c: Conn, cid: string, f: LogFields, at: number, out: TrackBatch): number {
    const n = num(f.tx);
    if (n === null ? c.tx === 0 : n !== c.tx) this.newTx(c, n ?? c.tx + 1, str(f.sender));
    if (str(f.helo)) c.helo = str(f.helo);
    if (str(f.user)) c.user = str(f.user);
    if (str(f.sender) !== null) c.sender = str(f.sender);
    const i = c.rcpts++;
    const recipient = str(f.recipient);
    const code = num(f.code);
    const kind = f.kind === 'relay' || f.kind === 'inbound' ? f.kind : null;
    if (f.action === 'accept') {
      if (f.duplicate !== true && recipient !== null && c.accepted.length < MAX_ACCEPTED) c.accepted.push({ n: i, recipient, rule: str(f.rule), code, kind, used: false });
      return c.tx;
    }
    const status = refusalStatus(f.action, code);
    const action = status === 'tempfailed' ? 'tempfail' : 'reject';
    out.entries.push(
      this.entry(at, cid, c, { key: `${cid}:${c.tx}:${i}`, sender: c.sender, recipient, kind, status, rule: str(f.rule), code, reply: cut(str(f.text)), rcpt_action: action, rcpt_rule: str(f.rule), rcpt_code: code }),
    );
    return c.tx;
  }

  /** The recipients of the transaction ending at DATA: the accepted RCPTs remembered, else those the line names. */
  private endTx(c: Conn | null, cid: string | null, f: LogFields, at: number, out: TrackBatch, what: (a: Accepted | null, i: number) => Partial<TrackEntry> & Pick<TrackEntry, 'key' | 'status'>): void {
    const named = Array.isArray(f.recipients) ? (f.recipients as unknown[]).map((r) => (typeof r === 'string' ? r : str((r as { address?: unknown } | null)?.address))) : null;
    const list: (Accepted | null)[] = c && c.accepted.length > 0 ? c.accepted : (named ?? []).map(() => null);
    const sender = str(f.sender) ?? c?.sender ?? null;
    list.forEach((a, i) => {
      const recipient = a?.recipient ?? named?.[i] ?? null;
      out.entries.push(this.entry(at, cid, c, { sender, recipient, kind: a?.kind ?? null, first: i === 0, ...decision(a), ...what(a, i) }));
    });
    if (c) c.accepted = [];
  }

  private stored(event: string, c: Conn | null, cid: string | null, f: LogFields, at: number, out: TrackBatch): void {
    const id = str(f.id);
    if (!id || !Array.isArray(f.recipients)) return;
    const quarantined = event === 'quarantined';
    const held = f.held === true;
    const status: TrackStatus = quarantined ? 'quarantined' : held ? 'held' : 'queued';
    const mid = str(f.message_id);
    (f.recipients as { address?: unknown; kind?: unknown; rule?: unknown }[]).forEach((r, i) => {
      const address = str(r?.address);
      const a = c?.accepted.find((x) => !x.used && x.recipient === address) ?? null;
      if (a) a.used = true;
      out.entries.push(
        this.entry(at, cid, c, {
          key: `${id}:${i}`,
          queue_id: id,
          client: c?.client ?? str(f.client),
          user: str(f.user) ?? c?.user ?? null,
          sender: str(f.sender),
          recipient: address,
          message_id: mid ? bareMessageId(mid) : null,
          subject: cut(str(f.subject)),
          size: num(f.size),
          kind: r?.kind === 'relay' || r?.kind === 'inbound' ? r.kind : null,
          status,
          rule: quarantined || held ? cut(str(f.rule)) : str(r?.rule),
          code: 250,
          reply: quarantined || held ? cut(str(f.reason)) : null,
          first: i === 0,
          ...decision(a),
        }),
      );
    });
    if (c) c.accepted = [];
  }

  private admin(f: LogFields, at: number, out: TrackBatch): void {
    const id = str(f.id);
    if (!id || f.ok !== true) return;
    const change = (onlyIf: TrackStatus[], status: TrackStatus, reply: string): void => void out.updates.push({ queue_id: id, recipient: null, onlyIf, updated: at, status, rule: 'admin', reply });
    switch (f.op) {
      case 'hold':
        return change(['queued', 'deferred'], 'held', 'held by the administrator');
      case 'release':
        return change(['held'], 'queued', 'released by the administrator');
      case 'quarantine-release':
        return change(['quarantined'], 'queued', 'released from quarantine by the administrator');
      case 'quarantine-delete':
        return change(['quarantined'], 'removed', 'deleted from quarantine by the administrator');
      default:
    }
  }
}

function decision(a: Accepted | null): Partial<TrackEntry> {
  return a ? { rcpt_action: 'accept', rcpt_rule: a.rule, rcpt_code: a.code } : {};
}
