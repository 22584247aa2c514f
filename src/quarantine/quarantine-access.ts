// The quarantine as its recipients see it (issue 21): the digest's links and
// the user portal act on one recipient's share of a quarantined message, never
// on anyone else's. An administrator keeps the whole-message operations of
// src/queue/quarantine.ts. Implemented by src/quarantine/recipient-quarantine.ts.
//
// A quarantined message with several recipients is shared: a recipient who
// releases it gets their copy delivered (a new queue entry with only their
// addresses) and the rest stays quarantined for the others; the last share
// released or deleted removes the quarantined message.

/** Who acts: an administrator (any message), a recipient holding a signed link, or a signed-in portal user. */
export type QuarantineActor =
  | { kind: 'administrator'; name: string }
  | { kind: 'link'; address: string }
  | { kind: 'user'; name: string };

/** Why a message is in quarantine, as self-release sees it (quarantine.self_release). */
export type QuarantineCategory = 'malware' | 'spam' | 'content' | 'other';

/** One quarantined message, as one recipient may see it. */
export interface RecipientQuarantineEntry {
  id: string;
  received_at: string;
  sender: string;
  /** The decoded Subject (at most 998 characters), or null. */
  subject: string | null;
  /** The viewer's own addresses among its recipients (never the others'). */
  recipients: string[];
  rule: string;
  reason: string;
  category: QuarantineCategory;
  size: number;
  /** Whether this viewer may release it themselves (quarantine.self_release). */
  releasable: boolean;
}

export interface ReleaseOutcome {
  /** The recipients released or deleted. */
  recipients: string[];
  /** The queue id of the released copy (release only). */
  queued?: string;
}

export interface RecipientQuarantine {
  /** Newest first, at most `limit` (default 500); only messages with one of `addresses` among their recipients. */
  listFor(addresses: readonly string[], limit?: number): Promise<RecipientQuarantineEntry[]>;
  /** Releases `addresses`' share of message `id` for delivery at once; throws QuarantineDenied when not allowed (malware, not theirs). */
  releaseFor(id: string, addresses: readonly string[], by: QuarantineActor): Promise<ReleaseOutcome>;
  /** Deletes `addresses`' share of message `id`. */
  deleteFor(id: string, addresses: readonly string[], by: QuarantineActor): Promise<ReleaseOutcome>;
}

/** A recipient asked for what they may not do: HTTP 403 / a page that says why. */
export class QuarantineDenied extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuarantineDenied';
  }
}
