// The envelope written beside each spooled message: who sent it, to whom,
// from where, and which rule let each recipient in. Human-readable JSON, so
// that an admin can read the queue with `cat`.

import type { Kind } from '../core/decision.ts';

export type RecipientStatus = 'queued' | 'delivered' | 'deferred' | 'failed';

export interface EnvelopeRecipient {
  address: string;
  kind: Kind;
  /** The rule that accepted this recipient, e.g. "rule 4". */
  rule: string;
  status: RecipientStatus;
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
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a parsed envelope enough that the queue can trust its fields. */
export function isEnvelope(v: unknown): v is Envelope {
  if (!isObj(v) || v.version !== 1 || typeof v.id !== 'string' || typeof v.sender !== 'string' || typeof v.received_at !== 'string') return false;
  if (!Array.isArray(v.recipients) || v.recipients.length === 0) return false;
  if (!v.recipients.every((r) => isObj(r) && typeof r.address === 'string' && (r.kind === 'inbound' || r.kind === 'relay') && typeof r.status === 'string')) return false;
  return isObj(v.client) && typeof v.client.address === 'string' && typeof v.size === 'number';
}
