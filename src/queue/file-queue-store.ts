// The single node's QueueStore: the spool directory (src/queue/spool.ts: one
// file per message, its fsyncs and crash recovery) plus what delivery
// needs to find work without keeping envelopes in memory: a due index
// (queue id → due time, and a heap ordered by it) built at open() from the
// envelopes on disk, and the delivery claims. The data directory's lock makes
// this process the only deliverer, so claims and their leases live in memory;
// they still behave as the port says (a claimed message is not handed out
// again until it is settled, unclaimed or its lease has expired, and a claim
// taken over after expiry can no longer settle), with `now` the caller's
// clock. Without open() (the CLI reading a running daemon's queue) only the
// reading methods are used: they change nothing on disk.

import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import { DueHeap } from './due-heap.ts';
import { dueAt, type Envelope } from './envelope.ts';
import { ClaimLostError, QuarantineChanged, type Admission, type Claim, type ClaimRequest, type Committed, type MessageWriter, type QueueArea, type QueueCensus, type QueueStore, type StoredBody } from './queue-store.ts';
import { Spool, type SpoolWriter } from './spool.ts';
import { CensusBook } from './queue-census.ts';
import type { HeaderEdit } from '../scan/header-edit.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';

/** At most this many octets of just-committed messages are held for their first delivery (FileQueueStore.fresh). */
const FRESH_MAX = 16 * 1024 * 1024;

/** A live claim as the store keeps it. */
interface Held {
  token: string;
  node: string;
  until: number;
  /** The due time the message had when claimed: where it goes back to when the claim ends unchanged. */
  dueBefore: number | null;
  /** A settle is writing the outcome: the lease cannot run out under it. */
  settling?: boolean;
}

export class FileQueueStore implements QueueStore {
  readonly spool: Spool;
  /** Unclaimed queued messages with a due time (not held, something pending). */
  private readonly due = new Map<string, number>();
  private readonly heap = new DueHeap();
  /** Every queued message's state and arrival, for census() (metrics). */
  private readonly book = new CensusBook();
  private readonly claims = new Map<string, Held>();
  private readonly listeners = new Set<() => void>();
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenSeq = 0;
  /** Receiving only (attach()): the primary indexes and delivers, so nothing is kept here per message. */
  private attached = false;
  /**
   * The octets of small messages just committed into the queue, until their
   * first delivery attempt settles: delivery sends them from memory instead of
   * reading back the file it has just written (a message file never changes
   * under its id). Bounded in total; what does not fit is read from disk.
   */
  private readonly fresh = new Map<string, Buffer>();
  private freshBytes = 0;

  constructor(dataDir: string, logger: Logger) {
    this.spool = new Spool(dataDir, logger);
  }

  /** Recovers the spool (under the data directory's lock) and reads every envelope once to build the due index. */
  async open(): Promise<void> {
    this.spool.open();
    this.due.clear();
    this.claims.clear();
    this.book.clear();
    for (const m of this.spool.list('queue')) {
      this.index(m.envelope.id, dueAt(m.envelope));
      this.book.note(m.envelope);
    }
    this.compact(true);
  }

  /**
   * Opens for receiving only, in an SMTP worker process (src/process): begin()
   * and admits() work; no recovery and no due index (the primary process,
   * which holds the data directory's lock, recovered the spool and delivers).
   */
  async attach(): Promise<void> {
    this.attached = true;
    this.spool.attach();
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.spool.close();
  }

  nextId(): string {
    return this.spool.nextId();
  }

  begin(id: string): MessageWriter {
    return new FileMessageWriter(this, this.spool.begin(id));
  }

  admits(minFreeBytes: number): Admission {
    const free = this.spool.freeSpace();
    if (free < minFreeBytes) return { ok: false, reason: `${free} octets free on the spool's file system, fewer than limits.min_free_space (${minFreeBytes})`, cause: 'space' };
    return { ok: true };
  }

  async list(area: QueueArea = 'queue'): Promise<Envelope[]> {
    return this.spool.list(area).map((m) => m.envelope);
  }

  /** From memory for the queue (after open()); the quarantine's files are counted. */
  async census(): Promise<QueueCensus> {
    return this.book.census(this.spool.ids('quarantine').length);
  }

  async read(id: string, area: QueueArea = 'queue'): Promise<Envelope | null> {
    return this.spool.read(id, area)?.envelope ?? null;
  }

  async body(id: string, area: QueueArea = 'queue'): Promise<StoredBody | null> {
    const held = area === 'queue' ? this.fresh.get(id) : undefined;
    if (held) return { size: held.length, whole: () => Promise.resolve(held), stream: () => Readable.from([held]) };
    const m = this.spool.read(id, area);
    if (!m) return null;
    const { messagePath: path, size } = m;
    return {
      size,
      // Synchronous read for the small messages this is for: quicker than the
      // thread pool, which the spool's fsyncs keep busy. Only octets [0, size):
      // a spool file's trailer follows them.
      whole: () => {
        try {
          return Promise.resolve(readPrefix(path, size));
        } catch (err) {
          return Promise.reject(err as Error);
        }
      },
      stream: () => (size === 0 ? Readable.from([]) : createReadStream(path, { start: 0, end: size - 1, highWaterMark: 256 * 1024 })),
    };
  }

  async headers(id: string, area: QueueArea = 'queue', max?: number): Promise<Buffer> {
    return this.spool.headers(id, max, area);
  }

  async update(envelope: Envelope): Promise<void> {
    this.forgetFresh(envelope.id);
    await this.spool.update(envelope);
    this.book.note(envelope);
    if (!this.claims.has(envelope.id)) {
      this.index(envelope.id, dueAt(envelope));
      this.emit();
    }
  }

  remove(id: string): Promise<void> {
    this.forgetFresh(id);
    this.due.delete(id);
    this.claims.delete(id);
    this.book.forget(id);
    return this.spool.remove(id);
  }

  async release(envelope: Envelope): Promise<void> {
    await this.spool.release(envelope);
    this.book.note(envelope);
    this.index(envelope.id, dueAt(envelope));
    this.emit();
  }

  async removeQuarantined(id: string): Promise<void> {
    this.spool.removeQuarantined(id);
  }

  /** Splits run one at a time in this process (the only one writing, under the lock): the compare and the writes are one step. */
  async splitQuarantined(expected: Envelope, remaining: Envelope, released: Envelope | null): Promise<void> {
    const run = this.splits.then(() => this.spool.splitQuarantined(expected, remaining, released));
    this.splits = run.catch(() => {});
    if (!(await run)) throw new QuarantineChanged(remaining.id);
    if (!released) return;
    this.book.note(released);
    this.index(released.id, dueAt(released));
    this.emit();
  }

  private splits: Promise<unknown> = Promise.resolve();

  // ------------------------------------------------------------ claims

  async claimDue(req: ClaimRequest & { now: number; limit: number }): Promise<Claim[]> {
    this.expire(req.now);
    const out: Claim[] = [];
    while (out.length < req.limit) {
      const top = this.heap.peek();
      if (!top || top.due > req.now) break;
      this.heap.pop();
      if (this.due.get(top.id) !== top.due) continue; // stale: claimed, changed or gone since
      this.due.delete(top.id);
      // The envelope is read only now, when it is to be delivered.
      const env = this.spool.read(top.id, 'queue')?.envelope;
      if (!env) continue;
      const due = dueAt(env);
      if (due === null || due > req.now) {
        // Changed on disk behind the index's back (it cannot, under the lock; but never deliver early).
        this.index(env.id, due);
        continue;
      }
      out.push(this.take(env, req, due));
    }
    return out;
  }

  async claim(id: string, req: ClaimRequest & { now: number }): Promise<Claim | null> {
    this.expire(req.now);
    if (this.claims.has(id)) return null;
    const env = this.spool.read(id, 'queue')?.envelope;
    if (!env) return null;
    this.due.delete(id);
    return this.take(env, req, dueAt(env));
  }

  /** Claims a message just committed (commit's `claim`): no read, no index entry. */
  claimCommitted(env: Envelope, req: ClaimRequest, now: number): Claim {
    return this.take(env, { ...req, now }, dueAt(env));
  }

  private take(envelope: Envelope, req: ClaimRequest & { now: number }, dueBefore: number | null): Claim {
    const token = `${this.tokenPrefix}.${++this.tokenSeq}`;
    const until = req.now + req.leaseMs;
    this.claims.set(envelope.id, { token, node: req.node, until, dueBefore });
    return { id: envelope.id, node: req.node, token, until, envelope };
  }

  async renew(claims: readonly Claim[], leaseMs: number, now: number): Promise<string[]> {
    const lost: string[] = [];
    for (const c of claims) {
      const held = this.claims.get(c.id);
      // An expired lease that nobody took over is still ours to renew.
      if (!held || held.token !== c.token) {
        lost.push(c.id);
        continue;
      }
      held.until = now + leaseMs;
      c.until = held.until;
    }
    return lost;
  }

  async settle(claim: Claim, envelope: Envelope | null): Promise<void> {
    const held = this.owned(claim);
    this.forgetFresh(claim.id);
    if (envelope === null) {
      this.claims.delete(claim.id);
      this.due.delete(claim.id);
      this.book.forget(claim.id);
      await this.spool.remove(claim.id);
      return;
    }
    if (envelope.id !== claim.id) throw new Error(`settle: envelope ${envelope.id} for the claim on ${claim.id}`);
    // The claim is kept while the envelope is written: nothing else may take the message meanwhile.
    held.settling = true;
    try {
      await this.spool.update(envelope);
    } finally {
      held.settling = false;
    }
    this.book.note(envelope);
    this.claims.delete(claim.id);
    this.index(claim.id, dueAt(envelope));
    this.emit();
  }

  async unclaim(claim: Claim): Promise<void> {
    const held = this.claims.get(claim.id);
    if (!held || held.token !== claim.token) return;
    this.forgetFresh(claim.id);
    this.claims.delete(claim.id);
    this.index(claim.id, held.dueBefore);
    this.emit();
  }

  async releaseClaimsOf(node: string): Promise<number> {
    let n = 0;
    for (const [id, held] of this.claims) {
      // A settle under way finishes with its claim: what it writes is the message's next state.
      if (held.node !== node || held.settling) continue;
      this.claims.delete(id);
      this.index(id, held.dueBefore);
      n++;
    }
    if (n > 0) this.emit();
    return n;
  }

  async nextDue(): Promise<number | null> {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return null;
      if (this.due.get(top.id) === top.due) return top.due;
      this.heap.pop();
    }
  }

  async holder(id: string, now: number): Promise<{ node: string; until: number } | null> {
    const held = this.claims.get(id);
    return held && held.until > now ? { node: held.node, until: held.until } : null;
  }

  async claimsByNode(now: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const h of this.claims.values()) if (h.until > now) out.set(h.node, (out.get(h.node) ?? 0) + 1);
    return out;
  }

  onWork(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Messages in the due index (for tests and status): unclaimed with a due time. */
  get indexed(): number {
    return this.due.size;
  }

  // ------------------------------------------------------------ internals

  /** The held claim, or ClaimLostError (synchronously checked, before anything is written). */
  private owned(claim: Claim): Held {
    const held = this.claims.get(claim.id);
    if (!held || held.token !== claim.token) throw new ClaimLostError(claim.id);
    return held;
  }

  /** Claims whose lease has run out go back to the index: another claimDue may take them. */
  private expire(now: number): void {
    for (const [id, h] of this.claims) {
      if (h.until > now || h.settling) continue;
      this.forgetFresh(id);
      this.claims.delete(id);
      this.index(id, h.dueBefore);
    }
  }

  private index(id: string, due: number | null): void {
    if (due === null) {
      this.due.delete(id);
      return;
    }
    this.due.set(id, due);
    this.heap.push(due, id);
    this.compact(false);
  }

  /** Drops stale heap entries once they outnumber the live ones. */
  private compact(force: boolean): void {
    if (force || this.heap.length > 2 * this.due.size + 1024) this.heap.rebuild(this.due);
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }

  private forgetFresh(id: string): void {
    const b = this.fresh.get(id);
    if (!b) return;
    this.fresh.delete(id);
    this.freshBytes -= b.length;
  }

  /** How many messages' octets are held in memory for their first delivery (tests). */
  get freshCount(): number {
    return this.fresh.size;
  }

  /**
   * Indexes the committed messages of the queue that the index does not know: those of an SMTP worker process
   * (src/process) that died between its commit and telling this process. Returns how many it found.
   */
  adoptUnknown(): number {
    if (this.attached) return 0;
    let found = 0;
    for (const m of this.spool.list('queue')) {
      const id = m.envelope.id;
      if (this.due.has(id) || this.claims.has(id) || this.book.has(id)) continue;
      this.book.note(m.envelope);
      this.index(id, dueAt(m.envelope));
      found++;
    }
    if (found > 0) this.emit();
    return found;
  }

  /** Called by this store's writer once its message is committed into the queue (not for other callers); `body`: its octets, when in memory. */
  committed(env: Envelope, claim: ClaimRequest | undefined, body: Buffer | null = null): Claim | null {
    if (this.attached) return null;
    this.book.note(env);
    const due = dueAt(env);
    if (body && due !== null && body.length === env.size && this.freshBytes + body.length <= FRESH_MAX) {
      this.fresh.set(env.id, body);
      this.freshBytes += body.length;
    }
    if (claim) return this.claimCommitted(env, claim, Date.now());
    this.index(env.id, due);
    this.emit();
    return null;
  }
}

/** A message being received, written by the spool; commit() is the spool's commit point. */
class FileMessageWriter implements MessageWriter {
  private readonly store: FileQueueStore;
  private readonly writer: SpoolWriter;

  constructor(store: FileQueueStore, writer: SpoolWriter) {
    this.store = store;
    this.writer = writer;
  }

  get id(): string {
    return this.writer.id;
  }

  get size(): number {
    return this.writer.size;
  }

  write(chunk: Buffer): Promise<void> {
    return this.writer.write(chunk);
  }

  contents(): Promise<MessageSource> {
    return this.writer.contents();
  }

  rewrite(transform: (source: MessageSource) => AsyncIterable<Buffer>): Promise<void> {
    return this.writer.rewrite(transform);
  }

  async commit(envelope: Omit<Envelope, 'size' | 'id'>, opts: { edit?: HeaderEdit; area?: QueueArea; claim?: ClaimRequest } = {}): Promise<Committed> {
    const area = opts.area ?? 'queue';
    const full = await this.writer.commit(envelope, { edit: opts.edit, area });
    // Quarantined mail is never delivered: nothing to index or claim.
    const claim = area === 'queue' ? this.store.committed(full, opts.claim, this.writer.committedBody) : null;
    return { envelope: full, claim };
  }

  abort(): Promise<void> {
    return this.writer.abort();
  }
}

/** The first `size` octets of a file (a message without its trailer); an error if the file is shorter. */
function readPrefix(path: string, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) throw new Error(`${path} ended after ${got} of ${size} octets`);
      got += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}
