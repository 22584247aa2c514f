// How a TrackEntry and a TrackEvent are laid out in the SQL stores (SQLite
// and PostgreSQL share the columns): the entry's fields plus the lower-cased
// domains of sender and recipient (for '@domain' searches), the login as
// `login` (USER is reserved in PostgreSQL), booleans as 0/1. Bounds for what
// a log line may put in a row live here too, so that every store keeps the
// same.

import { domainOf } from './track-query.ts';
import type { DecisionTuple } from './tracking-reader.ts';
import type { TrackEntry, TrackEvent, TrackStatus } from './tracking-store.ts';

/** The columns of track_entry, in the order entryRow() gives them. */
export const ENTRY_COLUMNS = [
  'key', 'at', 'updated', 'node', 'cid', 'tx', 'queue_id', 'client', 'helo', 'listener', 'login', 'sender', 'sender_domain', 'recipient', 'recipient_domain',
  'message_id', 'subject', 'size', 'kind', 'status', 'rule', 'code', 'reply', 'attempts', 'relay', 'rcpt_action', 'rcpt_rule', 'rcpt_code', 'is_first',
] as const;

export type EntryRow = Record<(typeof ENTRY_COLUMNS)[number], string | number | null>;

export function entryRow(e: TrackEntry): EntryRow {
  return {
    key: e.key,
    at: e.at,
    updated: e.updated,
    node: e.node,
    cid: e.cid,
    tx: e.tx ?? null,
    queue_id: e.queue_id,
    client: e.client,
    helo: e.helo,
    listener: e.listener,
    login: e.user,
    sender: e.sender,
    sender_domain: domainOf(e.sender),
    recipient: e.recipient,
    recipient_domain: domainOf(e.recipient),
    message_id: e.message_id,
    subject: e.subject,
    size: e.size,
    kind: e.kind,
    status: e.status,
    rule: e.rule,
    code: e.code,
    reply: e.reply,
    attempts: e.attempts,
    relay: e.relay,
    rcpt_action: e.rcpt_action ?? null,
    rcpt_rule: e.rcpt_rule ?? null,
    rcpt_code: e.rcpt_code ?? null,
    is_first: e.first === false ? 0 : 1,
  };
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function rowEntry(r: Record<string, unknown>): TrackEntry {
  return {
    key: String(r.key),
    at: Number(r.at),
    updated: Number(r.updated),
    node: String(r.node),
    cid: str(r.cid),
    tx: num(r.tx),
    queue_id: str(r.queue_id),
    client: str(r.client),
    helo: str(r.helo),
    listener: str(r.listener),
    user: str(r.login),
    sender: str(r.sender),
    recipient: str(r.recipient),
    message_id: str(r.message_id),
    subject: str(r.subject),
    size: num(r.size),
    kind: str(r.kind) as TrackEntry['kind'],
    status: String(r.status) as TrackStatus,
    rule: str(r.rule),
    code: num(r.code),
    reply: str(r.reply),
    attempts: Number(r.attempts ?? 0),
    relay: str(r.relay),
    rcpt_action: str(r.rcpt_action) as TrackEntry['rcpt_action'],
    rcpt_rule: str(r.rcpt_rule),
    rcpt_code: num(r.rcpt_code),
    first: Number(r.is_first) === 1 || r.is_first === true,
  };
}

export function rowEvent(r: Record<string, unknown>): TrackEvent {
  let fields: Record<string, unknown> = {};
  try {
    fields = JSON.parse(String(r.fields)) as Record<string, unknown>;
  } catch {
    // a damaged row shows as an event without fields
  }
  return { at: Number(r.at), cid: str(r.cid), tx: num(r.tx), queue_id: str(r.queue_id), event: String(r.event), fields };
}

/** The set clause of an update, column by column (the caller adds `updated`). */
export function updateColumns(u: { status?: TrackStatus; rule?: string | null; code?: number | null; reply?: string | null; relay?: string | null; attempts?: number }): [string, string | number | null][] {
  const out: [string, string | number | null][] = [];
  if (u.status !== undefined) out.push(['status', u.status]);
  if (u.rule !== undefined) out.push(['rule', u.rule]);
  if (u.code !== undefined) out.push(['code', u.code]);
  if (u.reply !== undefined) out.push(['reply', u.reply]);
  if (u.relay !== undefined) out.push(['relay', u.relay]);
  if (u.attempts !== undefined) out.push(['attempts', u.attempts]);
  return out;
}

/**
 * The key range of a refused transaction's entries (`CID:t:n` for every n):
 * found through the key's own index, so that no index on (cid, tx) is kept
 * for it (one index fewer to write per entry).
 */
export function transactionKeys(e: { key: string }): [string, string] {
  const prefix = e.key.slice(0, e.key.lastIndexOf(':') + 1);
  // ';' follows ':' in byte order: every key with the prefix is below it.
  return [prefix, prefix.slice(0, -1) + ';'];
}

/**
 * Most events a timeline shows. Past it, what answers "where is it now" is
 * kept: the first RCPT_SHARE of rcpt events (a message to thousands, a
 * connection that tried thousands), and of the other events the first and
 * the last (connect, MAIL, queued... and the latest deliveries, DSNs,
 * disconnect); the timeline says it is cut and how many events were left out.
 */
export const TIMELINE_EVENTS = 1000;

export interface TimelineCap {
  /** At most this many events in all; a timeline within it is whole. */
  total: number;
  /** Past `total`: the first `rcpt` rcpt events... */
  rcpt: number;
  /** ...and the first `head` and last `tail` of the others. */
  head: number;
  tail: number;
}

/** The share of a cut timeline given to rcpt events, and the rest split between the first and last of the others. */
export function timelineCap(total = TIMELINE_EVENTS): TimelineCap {
  const rcpt = Math.floor(total / 5);
  const head = Math.floor((total - rcpt) / 2);
  return { total, rcpt, head, tail: total - rcpt - head };
}

/** The per-recipient event a big message has thousands of. */
export const RCPT_EVENT = 'rcpt';

/**
 * The SQL stores' timeline query over \`from\` (a FROM clause with its WHERE):
 * every row when they are within the cap, else the rows TimelineCap keeps,
 * in time order, each with \`total_n\`, how many there were in all.
 */
export function timelineSql(from: string, cap: TimelineCap): string {
  const n = (x: number) => Math.max(0, Math.floor(x));
  return `SELECT * FROM (
    SELECT id, at, cid, tx, queue_id, event, fields, count(*) OVER () AS total_n,
      row_number() OVER (PARTITION BY event = '${RCPT_EVENT}' ORDER BY at, id) AS fwd,
      row_number() OVER (PARTITION BY event = '${RCPT_EVENT}' ORDER BY at DESC, id DESC) AS back
    ${from}
  ) t WHERE total_n <= ${n(cap.total)} OR (event = '${RCPT_EVENT}' AND fwd <= ${n(cap.rcpt)}) OR (event <> '${RCPT_EVENT}' AND (fwd <= ${n(cap.head)} OR back <= ${n(cap.tail)}))
  ORDER BY at, id`;
}

/** The same choice over events already in time order (the memory store). */
export function keptEvents<T extends { event: string }>(all: readonly T[], cap: TimelineCap): { events: T[]; omitted: number } {
  if (all.length <= cap.total) return { events: [...all], omitted: 0 };
  const others = all.filter((e) => e.event !== RCPT_EVENT);
  const keep = new Set<T>([...all.filter((e) => e.event === RCPT_EVENT).slice(0, cap.rcpt), ...others.slice(0, cap.head), ...others.slice(Math.max(0, others.length - cap.tail))]);
  const events = all.filter((e) => keep.has(e));
  return { events, omitted: all.length - events.length };
}

/** How many rows of a timelineSql answer were left out. */
export function omittedOf(rows: readonly Record<string, unknown>[]): number {
  return rows.length === 0 ? 0 : Math.max(0, Number(rows[0]!.total_n) - rows.length);
}

/** A row of the decisions() query (both SQL stores). */
export function decisionOf(r: Record<string, unknown>): DecisionTuple {
  return {
    client: String(r.client),
    listener: r.listener === null ? null : String(r.listener),
    user: r.login === null ? null : String(r.login),
    sender: String(r.sender),
    recipient: String(r.recipient),
    action: String(r.rcpt_action) as DecisionTuple['action'],
    rule: r.rcpt_rule === null ? null : String(r.rcpt_rule),
    code: r.rcpt_code === null ? null : Number(r.rcpt_code),
    count: Number(r.n),
    first: Number(r.first),
    last: Number(r.last),
  };
}

/** Recipients in their order: `ID:2` before `ID:10`. */
export function byKey(a: TrackEntry, b: TrackEntry): number {
  const na = Number(a.key.slice(a.key.lastIndexOf(':') + 1));
  const nb = Number(b.key.slice(b.key.lastIndexOf(':') + 1));
  return na - nb || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
