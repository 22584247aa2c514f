// The envelope written beside each spooled message: who sent it, to whom,
// from where, and which rule let each recipient in. Human-readable JSON, so
// that an admin can read the queue with `cat`.

import type { Kind } from '../core/decision.ts';

export type RecipientStatus = 'queued' | 'delivered' | 'deferred' | 'failed';

export type NotifyOn = 'SUCCESS' | 'FAILURE' | 'DELAY' | 'NEVER';

export interface EnvelopeRecipient {
  address: string;
  kind: Kind;
  /** The rule that accepted this recipient, e.g. "rule 4". */
  rule: string;
  status: RecipientStatus;
  /** RCPT NOTIFY= (RFC 3461); absent: failures and delays are reported. */
  notify?: NotifyOn[];
  /** RCPT ORCPT= as given ("rfc822;user@example.com"). */
  orcpt?: string;
  /** Delivery attempts that ended without a final answer, or with one. */
  attempts?: number;
  /** Last reply or local reason, and its RFC 3463 status. */
  last_error?: string;
  last_status?: string;
  /** The reply code when last_error is a next hop's reply; absent when it is our own words. */
  last_code?: number;
  /** The host that gave the last answer: "name [ip]:port". */
  remote?: string;
  /** ISO time of the next attempt (deferred only). */
  next_attempt?: string;
  /** ISO time the recipient reached delivered or failed. */
  done_at?: string;
}

export type BounceType = 'failure' | 'delay' | 'success';

export interface HistoryEntry {
  at: string;
  event: string;
  detail?: string;
}

export interface Envelope {
  version: 1;
  id: string;
  /** ISO 8601 arrival time. */
  received_at: string;
  /** "" for the null sender <>. */
  sender: string;
  recipients: EnvelopeRecipient[];
  client: {
    address: string;
    helo: string;
    /** The authenticated user, or null. */
    user: string | null;
    tls: boolean;
    listener: string;
  };
  /** Relayed message (rule 7): the client had a relay right. */
  relayed: boolean;
  /** The configuration revision that decided. */
  revision: number;
  /** Octets of the message file, our Received header included. */
  size: number;
  body: '7bit' | '8bitmime';
  smtputf8: boolean;
  /** MAIL RET= and ENVID= (RFC 3461). */
  dsn?: { ret: 'FULL' | 'HDRS' | null; envid: string | null };
  /** Held by an admin: not delivered until released. */
  held?: boolean;
  /** A notification we generated: level 1 goes to the sender, level 2 (a failed level 1) to the postmaster. */
  bounce?: { of: string; level: 1 | 2; type: BounceType };
  /** A delay warning was sent. */
  delay_warned?: boolean;
  /** Set while the message is in quarantine: why and when (src/scan). */
  quarantine?: { at: string; rule: string; reason: string };
  /** What happened to the message, newest last (bounded). */
  history?: HistoryEntry[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a parsed envelope enough that the queue can trust its fields. */
export function isEnvelope(v: unknown): v is Envelope {
  if (!isObj(v) || v.version !== 1 || typeof v.id !== 'string' || typeof v.sender !== 'string' || typeof v.received_at !== 'string') return false;
  if (!Array.isArray(v.recipients) || v.recipients.length === 0) return false;
  if (!v.recipients.every((r) => isObj(r) && typeof r.address === 'string' && (r.kind === 'inbound' || r.kind === 'relay') && typeof r.status === 'string')) return false;
  return isObj(v.client) && typeof v.client.address === 'string' && typeof v.size === 'number';
}

/** Entries kept in an envelope's history. */
export const HISTORY_MAX = 30;

/** Appends to an envelope's history, keeping the newest HISTORY_MAX entries. */
export function addHistory(env: Envelope, at: number, event: string, detail?: string): void {
  const h = (env.history ??= []);
  const iso = new Date(at).toISOString();
  h.push(detail === undefined ? { at: iso, event } : { at: iso, event, detail });
  if (h.length > HISTORY_MAX) h.splice(0, h.length - HISTORY_MAX);
}

/** The states an admin sees a queued message in (queue list --state, the API). */
export const QUEUE_STATES = ['queued', 'deferred', 'held'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export function stateOf(e: Envelope): QueueState {
  if (e.held) return 'held';
  return e.recipients.some((r) => r.status === 'deferred') ? 'deferred' : 'queued';
}

/**
 * When a message is next due for delivery (epoch ms; 0 = now), or null when
 * nothing is pending or it is held. Every QueueStore adapter orders its work
 * by this, so that they cannot disagree.
 */
export function dueAt(env: Envelope): number | null {
  if (env.held) return null;
  let due: number | null = null;
  for (const r of env.recipients) {
    if (r.status !== 'queued' && r.status !== 'deferred') continue;
    const at = r.status === 'deferred' && r.next_attempt ? Date.parse(r.next_attempt) : 0;
    due = due === null ? at : Math.min(due, at);
  }
  return due;
}
