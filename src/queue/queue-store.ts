// The QueueStore port: the only way the rest of the code keeps, reads and
// changes queued and quarantined mail. The single node keeps it in the spool
// directory (src/queue/spool.ts behind FileQueueStore); a cluster keeps it in
// PostgreSQL. Nothing outside an adapter sees a file path or a table: messages
// are handed out as streams. Delivery work is claimed with a lease, so that
// several nodes can share one queue and a dead node's work is taken over once
// its lease expires (at least once, never lost).
//
// Clocks: every `now` argument is the caller's clock (epoch ms), and every
// `until` handed back is in that clock. Due times (an envelope's next attempt)
// are the callers'. Leases are the store's business: the spool (one node)
// judges them by the `now` it is given; the PostgreSQL adapter sets and judges
// them on the database's clock and ignores `now` for them, so that a node
// whose clock is off cannot take another node's live lease (it only gives
// `until` back as the caller's now plus what is left of the lease).

import type { Readable } from 'node:stream';
import type { Envelope } from './envelope.ts';
import type { HeaderEdit } from '../scan/header-edit.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';

export type QueueArea = 'queue' | 'quarantine';

/** One message being received: data goes in while it arrives; nothing is visible until commit() resolves. */
export interface MessageWriter {
  readonly id: string;
  /** Octets written so far. */
  readonly size: number;
  write(chunk: Buffer): Promise<void>;
  /** The message written so far, for a scanner that wants it whole after DATA. */
  contents(): Promise<MessageSource>;
  /**
   * Makes the message and its envelope durable under its queue id, in one
   * step (the commit point); 250 may follow only when this resolves.
   * `claim`: the committing node takes the delivery claim at once (saves a
   * round trip for the common case of delivering what was just received).
   */
  commit(envelope: Omit<Envelope, 'size' | 'id'>, opts?: { edit?: HeaderEdit; area?: QueueArea; claim?: ClaimRequest }): Promise<Committed>;
  /**
   * Replaces the message written so far by what `transform` makes of it
   * (the content rules' strip action), streaming: the old content is read
   * while the new one is written, never held whole in memory. Before commit
   * only; `size` and contents() then describe the new message. When it
   * rejects (the transform's error, or the store's), the message written so
   * far is unchanged: it may still be committed (e.g. into the quarantine).
   */
  rewrite(transform: (source: MessageSource) => AsyncIterable<Buffer>): Promise<void>;
  /** Drops everything written so far. Safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

export interface Committed {
  envelope: Envelope;
  /** Set when commit() was asked to claim the message and did. */
  claim: Claim | null;
}

/** A stored message's content. */
export interface StoredBody {
  size: number;
  /** The whole message in memory (for small messages: one read, one write). */
  whole(): Promise<Buffer>;
  /** The message from its first octet, in bounded chunks; errors surface as stream errors. */
  stream(): Readable;
}

export interface ClaimRequest {
  /** The node taking the claim (its --node name). */
  node: string;
  leaseMs: number;
}

/** A message this node may deliver until `until` (epoch ms), unless renewed. */
export interface Claim {
  readonly id: string;
  readonly node: string;
  /** Proves ownership: a claim taken over by another node after expiry no longer matches. */
  readonly token: string;
  until: number;
  envelope: Envelope;
}

/** The claim is no longer ours (expired and taken by another node, or the message is gone). */
export class ClaimLostError extends Error {
  constructor(id: string) {
    super(`the claim on ${id} was lost (its lease expired and another node may be delivering it)`);
    this.name = 'ClaimLostError';
  }
}

/** The quarantined message changed (or went) since it was read: read it again. */
export class QuarantineChanged extends Error {
  constructor(id: string) {
    super(`the quarantined message ${id} changed meanwhile`);
    this.name = 'QuarantineChanged';
  }
}

/**
 * Whether new mail can be taken. `cause` says what the client hears at MAIL:
 * 'space' → 452 4.3.1 (the spool's disk is nearly full), 'unavailable' →
 * 451 4.3.0 (the store cannot be reached: nothing is full, try again soon).
 */
export type Admission = { ok: true } | { ok: false; reason: string; cause: 'space' | 'unavailable' };

/**
 * How many messages wait, by state (src/queue/envelope.ts stateOf), and when
 * the oldest of each state was received (epoch ms); the quarantine's count.
 * For the metrics' gauges, asked at each scrape: the adapters answer without
 * reading every envelope (the spool from memory, PostgreSQL with one query).
 */
export interface QueueCensus {
  queued: { count: number; oldest: number | null };
  deferred: { count: number; oldest: number | null };
  held: { count: number; oldest: number | null };
  quarantined: number;
}

export interface QueueStore {
  /** Prepares the store (directories, schema) and recovers from an interrupted run. */
  open(): Promise<void>;
  close(): Promise<void>;

  /**
   * The queue id for the next message received over SMTP (src/queue/queue-id.ts).
   * The spool may hand out the id of a file it made ahead (spool-pool.ts),
   * which begin() then writes: pass the id to begin() at once.
   */
  nextId(): string;
  /** Starts receiving one message under a queue id (src/queue/queue-id.ts). */
  begin(id: string): MessageWriter;
  /**
   * Whether new mail can be taken now, asked at every MAIL: synchronous and
   * cheap (a cached answer). `minFreeBytes` is limits.min_free_space.
   * The PostgreSQL adapter ignores it (the database's disk is not the
   * node's) and refuses while it knows the database to be unreachable.
   */
  admits(minFreeBytes: number): Admission;
  /**
   * Whether an error of one of this store's calls means the store could not
   * be reached (a cluster store's database away), as opposed to a message
   * that cannot be read. Absent: the store is never away (the embedded one).
   */
  isOutage?(err: unknown): boolean;

  /** Every committed message of an area, oldest first. */
  list(area?: QueueArea): Promise<Envelope[]>;
  /** The queue's size by state and its oldest messages, cheaply (metrics). Absent: the caller lists. */
  census?(): Promise<QueueCensus>;
  /** One committed message's envelope, or null when absent. */
  read(id: string, area?: QueueArea): Promise<Envelope | null>;
  /** One committed message's content, or null when absent. */
  body(id: string, area?: QueueArea): Promise<StoredBody | null>;
  /** The header section (without the blank line), at most `max` octets. */
  headers(id: string, area?: QueueArea, max?: number): Promise<Buffer>;

  /** Rewrites a queued message's envelope atomically (admin operations on an unclaimed message). */
  update(envelope: Envelope): Promise<void>;
  /** Removes a queued message (at least once: a removal lost in a crash means delivering again). */
  remove(id: string): Promise<void>;
  /** Moves a quarantined message into the queue with its new envelope, atomically. */
  release(envelope: Envelope): Promise<void>;
  removeQuarantined(id: string): Promise<void>;
  /**
   * Splits a quarantined message between its recipients (src/quarantine):
   * the quarantined message `remaining.id` keeps the envelope `remaining` (the
   * recipients whose share stays), and when `released` is given, a copy of the
   * message enters the queue under `released.id` with that envelope and is
   * announced (delivered at once). Only when the stored envelope is still
   * `expected` (else QuarantineChanged, nothing written): two shares acted on
   * at once never undo each other. Durable when it resolves. A crash in the
   * middle never loses the message; at worst the released share is still
   * listed in quarantine too (the embedded store: it may be released twice).
   */
  splitQuarantined(expected: Envelope, remaining: Envelope, released: Envelope | null): Promise<void>;

  /**
   * Claims up to `limit` queued messages that are due at `now` (not held,
   * some recipient queued or deferred with next_attempt <= now) and not
   * claimed by a live lease; soonest due first.
   */
  claimDue(req: ClaimRequest & { now: number; limit: number }): Promise<Claim[]>;
  /** Claims one message whatever its due time (an admin's retry, a release); null when claimed elsewhere or absent. */
  claim(id: string, req: ClaimRequest & { now: number }): Promise<Claim | null>;
  /** Extends the leases; returns the ids whose claims were lost. */
  renew(claims: readonly Claim[], leaseMs: number, now: number): Promise<string[]>;
  /**
   * Records the outcome of an attempt and gives the claim up, atomically:
   * the new envelope (deferred recipients with their next attempt), or null
   * when the message is done and goes. Throws ClaimLostError when the claim
   * is no longer ours (nothing is written then).
   */
  settle(claim: Claim, envelope: Envelope | null): Promise<void>;
  /** Gives a claim up without changing the message (shutdown). */
  unclaim(claim: Claim): Promise<void>;
  /**
   * Gives up every claim held under `node`, whatever its lease. Only for a
   * node known to be dead: this node, restarted on its data directory after
   * a crash, whose claims were its dead process's. Its mail is then claimed
   * again at once instead of when the leases run out. Returns how many went.
   */
  releaseClaimsOf(node: string): Promise<number>;
  /**
   * When the next unclaimed message falls due (epoch ms), or null when none waits; for the scheduler's timer.
   * A message under a lease may count from its lease's end (when another node may take it over: the
   * PostgreSQL adapter does so) or not at all; never earlier.
   */
  nextDue(): Promise<number | null>;
  /** Who holds a live claim on a message, if anyone (for admin operations and cluster status). */
  holder(id: string, now: number): Promise<{ node: string; until: number } | null>;
  /** Live claims per node (cluster status). */
  claimsByNode(now: number): Promise<Map<string, number>>;

  /**
   * Called when new work may be due (a commit or a settle on any node, a
   * release): the scheduler claims then rather than waiting for its timer.
   * The cluster adapter announces with LISTEN/NOTIFY. Returns an unsubscribe.
   */
  onWork(listener: () => void): () => void;
}
