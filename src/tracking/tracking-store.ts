// The TrackingStore port: every message's life as the relay saw it, kept for
// `tracking.retention` and searched by the tracking page, the API and
// `mailwarden track`. One entry per recipient of a transaction (what an
// administrator searches for: "did mail from A to B arrive, and where is it
// now?"), plus the events of its life (connection, each command's decision
// with the rule, scan verdicts, delivery attempts with the remote reply,
// DSNs), keyed by connection id and queue id. The embedded store keeps them in
// SQLite (DATA/tracking.db), a cluster in PostgreSQL; a memory one serves the
// tests. The recorder (src/tracking/recorder.ts) fills it from the log events.

import type { TrackingReader } from './tracking-reader.ts';

/**
 * Where a recipient of a transaction stands:
 * refused / tempfailed: answered 5xx / 4xx before it was stored (at connect, MAIL, RCPT or DATA);
 * queued: stored, not yet tried; deferred: tried, will be tried again;
 * delivered / bounced: final; quarantined / held: stored, waiting for an administrator;
 * discarded: accepted and dropped by a rule (blackhole); removed: deleted from the queue by an administrator.
 */
export const TRACK_STATUSES = ['refused', 'tempfailed', 'queued', 'deferred', 'delivered', 'bounced', 'quarantined', 'held', 'discarded', 'removed'] as const;
export type TrackStatus = (typeof TRACK_STATUSES)[number];

export interface TrackEntry {
  /** Unique: `QUEUEID:n` for the n-th recipient of a stored message, `CID:t:n` for a transaction that never got a queue id. */
  key: string;
  /** Epoch ms of the decision that created the entry (the RCPT, or the end of DATA). */
  at: number;
  /** Epoch ms of its last change (a delivery attempt...). */
  updated: number;
  /** The node that received it (a cluster's nodes share the store). */
  node: string;
  /** The SMTP session's id (smtp-server's), null for mail we made ourselves (a DSN). */
  cid: string | null;
  queue_id: string | null;
  client: string | null;
  helo: string | null;
  listener: string | null;
  user: string | null;
  /** The envelope sender without brackets, '' for the null sender; null when the transaction was refused before MAIL. */
  sender: string | null;
  /** Null when refused before any RCPT (at connect or MAIL). */
  recipient: string | null;
  message_id: string | null;
  /** Only with tracking.subject: true. */
  subject: string | null;
  size: number | null;
  /** 'relay' (leaves our domains) or 'inbound'; null when refused before the relay rules placed it. */
  kind: 'relay' | 'inbound' | null;
  status: TrackStatus;
  /** The rule or check that decided the current status ('rule 4', 'dnsbl', 'scan', 'delivery'...). */
  rule: string | null;
  /** The last SMTP reply code: ours for a refusal, the remote's for a delivery attempt. */
  code: number | null;
  /** The last reply text (ours for a refusal, the remote's for delivery), bounded. */
  reply: string | null;
  /** Delivery attempts so far. */
  attempts: number;
  /** The host that took or refused the last delivery attempt. */
  relay: string | null;
  /**
   * The transaction's number within its connection (1 for the first MAIL; 0
   * for a refusal at connect): with `cid` it finds the connection's events of
   * this transaction. Null for mail we made ourselves.
   */
  tx?: number | null;
  /**
   * What RCPT answered for this recipient (accept, reject, tempfail), with the
   * rule and code of that answer: the facts the impact preview replays
   * (decisions()). Null when the entry is not about a RCPT (refused at
   * connect or MAIL, a DSN of ours). The entry's `status`/`rule`/`code` say
   * where the recipient stands now (refused by the scan after an accepted RCPT...).
   */
  rcpt_action?: 'accept' | 'reject' | 'tempfail' | null;
  rcpt_rule?: string | null;
  rcpt_code?: number | null;
  /**
   * The entry that stands for its whole message or refused transaction in
   * counts (top()): the first recipient of a message or of a transaction
   * refused after DATA; every refusal at connect, MAIL or RCPT. Absent: true.
   */
  first?: boolean;
}

export interface TrackEvent {
  at: number;
  cid: string | null;
  queue_id: string | null;
  /** The transaction within the connection (as TrackEntry.tx); 0 for the connection's own events (connect, AUTH, disconnect). */
  tx?: number | null;
  /** The log event's name: connect, mail, rcpt, queued, scan.refused, delivery, dsn.queued... */
  event: string;
  /** The log line's fields (bounded). */
  fields: Record<string, unknown>;
  /** The same fields as JSON, when the recorder has them so already: the SQL stores write it as it is. */
  json?: string;
}

export interface TrackQuery {
  /** Envelope sender: a whole address (case-insensitive), or '@domain' for every sender of a domain. */
  from?: string;
  /** Recipient, as `from`. */
  to?: string;
  /** Client address, exactly. */
  client?: string;
  /** Queue id, exactly. */
  id?: string;
  /** Message-ID, exactly, with or without the angle brackets. */
  message_id?: string;
  /** Words of the Subject (case-insensitive substring); only when subjects are recorded. */
  subject?: string;
  status?: TrackStatus[];
  /** Epoch ms, inclusive / exclusive. */
  since?: number;
  until?: number;
  /** Entries per page (1..500, default 50). */
  limit?: number;
  /** The `next` of the previous page (opaque; a malformed one is a TrackQueryError, src/tracking/track-query.ts). */
  cursor?: string;
}

export interface TrackPage {
  /** Newest first. */
  entries: TrackEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next: string | null;
}

export interface TrackTimeline {
  /** The entries of the message (all its recipients) or of the refused transaction. */
  entries: TrackEntry[];
  /**
   * Its events in time order: the connection's up to the end of the transaction, then the queue's. At most
   * TIMELINE_EVENTS (src/tracking/track-rows.ts); past it the first rcpt events and the first and last of the others.
   */
  events: TrackEvent[];
  /** True when events were left out (more than TIMELINE_EVENTS were recorded). */
  truncated: boolean;
  /** How many events were left out (0 when whole). */
  omitted: number;
}

/**
 * A change to the entries of a stored message (a delivery attempt, an
 * administrator's action): applied to its recipient `recipient`, or to every
 * recipient when null, and only to those whose status is in `onlyIf` when given.
 */
export interface TrackUpdate {
  queue_id: string;
  recipient: string | null;
  onlyIf?: readonly TrackStatus[];
  updated: number;
  status?: TrackStatus;
  rule?: string | null;
  code?: number | null;
  reply?: string | null;
  relay?: string | null;
  attempts?: number;
}

/** What the recorder hands the store at once, written in one transaction: new entries first, then updates, then events. */
export interface TrackBatch {
  entries: TrackEntry[];
  updates: TrackUpdate[];
  events: TrackEvent[];
}

/**
 * A write the store could not start because another process holds the
 * database's lock: nothing was written, the same batch may be tried again
 * (the recorder keeps it, within its bound).
 */
export class TrackingBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrackingBusyError';
  }
}

/** The recorder's side of the store. */
export interface TrackingWriter {
  write(batch: TrackBatch): Promise<void>;
}

export interface TrackingStore extends TrackingReader, TrackingWriter {
  search(q: TrackQuery): Promise<TrackPage>;
  /** A message by queue id, or a transaction by an entry key. Null when unknown or pruned. */
  timeline(idOrKey: string): Promise<TrackTimeline | null>;
  /** Drops entries and events older than `before` (epoch ms); returns how many entries went. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}
