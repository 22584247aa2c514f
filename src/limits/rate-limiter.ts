// Counts the rate limits (limits.rate) of one node and keeps the counts in
// the store, so that a cluster counts together. Asking and counting are two
// steps: check() (at MAIL and RCPT) only reads, count() (at the commit of a
// message) adds, so an abandoned or refused transaction costs nothing.
// Counting is local: a bucket's
// stored total is read once when the node first meets it in a window (one
// store read), then the node adds to it in memory and hands its counts to the
// store every `flushMs` (one batched write that also reads back what the other
// nodes added). So a check costs a store round trip only on a bucket's first
// message in a window, and nothing at all when no limit is configured.
//
// What a cluster may overshoot: each node sees the others' counts as of its
// last flush, so N nodes together may accept up to (N-1) times what one node
// accepts in one flush interval beyond a limit. On one node,
// transactions of one bucket under way at once each pass the check before
// any of them is counted, so a limit can be passed by the number of such
// transactions in flight. A crash loses at most the last interval's counts.
//
// Memory is bounded: at most `maxBuckets` buckets are kept; beyond, the least
// recently used ones whose counts are already in the store are forgotten (and
// read back from the store when met again). A bucket never counted makes no
// store row.

import type { Logger } from '../log/logger.ts';
import type { RateLimit } from '../config/document.ts';
import { decide, demandsOf, limitName, type RateDecision, type RateSubject, type Trip, type RateUnit } from './rate-rules.ts';
import type { RateCount, RateStore } from './rate-store.ts';

const PRUNE_MS = 3_600_000;

interface Bucket {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** The store's total when last read (every node's counts). */
  base: number;
  /** Counted here and being written by a flush in flight. */
  sending: number;
  /** Counted here since the last flush. */
  local: number;
  /** The first read of the store's total, while it is under way. */
  loading: Promise<void> | null;
}

export interface RateLimiterOptions {
  logger: Logger;
  now?: () => number;
  /** How often local counts go to the store (ms). */
  flushMs?: number;
  /** Whether other nodes count in the same store (a cluster): then live buckets are read back at each flush. */
  shared?: boolean;
  /** The most buckets kept in memory (default 10,000). */
  maxBuckets?: number;
}

/** Who is counted, for the log line of a trip. */
export interface RateContext {
  readonly client: string;
  readonly user: string | null;
  readonly sender: string;
}

export class RateLimiter {
  private readonly store: () => RateStore;
  private readonly logger: Logger;
  readonly now: () => number;
  private readonly flushMs: number;
  private readonly buckets = new Map<string, Bucket>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failing = false;
  private readonly shared: boolean;
  private prunedAt = 0;
  private readonly maxBuckets: number;

  /** `store` is asked for on first use: a node without limits never opens it. */
  constructor(store: () => RateStore, o: RateLimiterOptions) {
    this.store = store;
    this.logger = o.logger;
    this.now = o.now ?? Date.now;
    this.flushMs = o.flushMs ?? 1000;
    this.shared = o.shared ?? false;
    this.maxBuckets = o.maxBuckets ?? 10_000;
  }

  /** How many buckets are in memory (for tests of the cap). */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Whether `n` more messages or recipients for this subject pass the limits,
   * counting nothing; logs a trip. Throws when the store cannot be read (the
   * check defers: fail closed).
   */
  async check(limits: readonly RateLimit[], unit: RateUnit, subject: RateSubject, n: number, ctx: RateContext): Promise<RateDecision> {
    const now = this.now();
    const demands = demandsOf(limits, unit, subject, now);
    if (demands.length === 0) return { kind: 'pass' };
    // Before this check's buckets are met: they are the most recent, and are about to be counted.
    this.trim();
    const loads: Promise<void>[] = [];
    for (const d of demands) {
      const b = this.bucket(d.key, d.window.start, d.window.end);
      if (b.loading) loads.push(b.loading);
    }
    if (loads.length > 0) await Promise.all(loads);
    const count = (key: string): number => {
      const d = demands.find((x) => x.key === key)!;
      const b = this.buckets.get(`${key}\n${d.window.start}`);
      return b ? b.base + b.sending + b.local : 0;
    };
    const decision = decide(demands, count, n);
    if (decision.kind !== 'pass') this.logTrip(decision.trip, unit, ctx);
    return decision;
  }

  /**
   * Adds `n` to every bucket this subject counts in (a committed message).
   * Synchronous: a bucket not in memory is counted now and its stored total
   * read alongside.
   */
  count(limits: readonly RateLimit[], unit: RateUnit, subject: RateSubject, n: number): void {
    if (n <= 0) return;
    const demands = demandsOf(limits, unit, subject, this.now());
    if (demands.length === 0) return;
    for (const d of demands) {
      const b = this.bucket(d.key, d.window.start, d.window.end);
      b.local += n;
      // Nobody waits on this read: its failure is the flush's to report.
      b.loading?.catch(() => {});
    }
    this.schedule();
    this.trim();
  }

  /** check() and, unless refused, count() in one step. */
  async take(limits: readonly RateLimit[], unit: RateUnit, subject: RateSubject, n: number, ctx: RateContext): Promise<RateDecision> {
    const d = await this.check(limits, unit, subject, n, ctx);
    if (d.kind !== 'refuse') this.count(limits, unit, subject, n);
    return d;
  }

  private logTrip(trip: Trip, unit: RateUnit, ctx: RateContext): void {
    const { demand, count: c, action } = trip;
    this.logger.log('rate.limited', {
      limit: demand.index,
      name: limitName(demand.limit, demand.index),
      who: demand.limit.who,
      value: demand.value,
      unit,
      count: c,
      max: demand.max,
      per: demand.limit.per,
      window_start: new Date(demand.window.start).toISOString(),
      resets_at: new Date(demand.window.end).toISOString(),
      action,
      client: ctx.client,
      user: ctx.user,
      sender: ctx.sender,
    });
  }

  /** Forgets the least recently used buckets beyond the cap whose counts are all in the store. */
  private trim(): void {
    if (this.buckets.size <= this.maxBuckets) return;
    for (const [id, b] of this.buckets) {
      if (this.buckets.size <= this.maxBuckets) return;
      if (b.local === 0 && b.sending === 0 && b.loading === null) this.buckets.delete(id);
    }
  }

  /** The bucket of a key in a window, created (with its store read started) when new. */
  private bucket(key: string, start: number, end: number): Bucket {
    const id = `${key}\n${start}`;
    let b = this.buckets.get(id);
    if (b) {
      // Most recently used last: the cap forgets from the front.
      this.buckets.delete(id);
      this.buckets.set(id, b);
      return b;
    }
    const made: Bucket = { key, start, end, base: 0, sending: 0, local: 0, loading: null };
    made.loading = this.store()
      .add([{ bucket: key, start, end, count: 0 }])
      .then(
        ([row]) => {
          made.base = row?.count ?? 0;
          made.loading = null;
        },
        (err: unknown) => {
          made.loading = null;
          // Forgotten, so that the next message asks again; unless it holds counts, which the next flush adds.
          if (made.local === 0 && this.buckets.get(id) === made) this.buckets.delete(id);
          throw err;
        },
      );
    this.buckets.set(id, made);
    return made;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.flushMs);
    this.timer.unref();
  }

  /** Hands the local counts to the store and reads back every live bucket's total. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async write(): Promise<void> {
    const now = this.now();
    const batch: { b: Bucket; delta: number }[] = [];
    for (const [id, b] of this.buckets) {
      if (b.loading) continue;
      if (b.end <= now && b.local === 0) {
        this.buckets.delete(id);
        continue;
      }
      // Alone on the store, a bucket without new counts has nothing to write or learn.
      if (b.local === 0 && !this.shared) continue;
      batch.push({ b, delta: b.local });
      b.sending += b.local;
      b.local = 0;
    }
    if (now - this.prunedAt > PRUNE_MS) {
      this.prunedAt = now;
      // Ended windows are kept a day for `limits show` and the logs' readers, then dropped.
      void this.store().prune(now - 86_400_000).catch(() => {});
    }
    if (batch.length === 0) return;
    let rows: RateCount[];
    try {
      rows = await this.store().add(batch.map(({ b, delta }) => ({ bucket: b.key, start: b.start, end: b.end, count: delta })));
    } catch (err) {
      for (const { b, delta } of batch) {
        b.sending -= delta;
        b.local += delta;
      }
      if (!this.failing) this.logger.log('rate.store_error', { error: err instanceof Error ? err.message : String(err), note: 'the counts are kept here and written at the next flush' });
      this.failing = true;
      this.schedule();
      return;
    }
    if (this.failing) this.logger.log('rate.store_recovered', {});
    this.failing = false;
    batch.forEach(({ b, delta }, i) => {
      b.sending -= delta;
      b.base = rows[i]?.count ?? b.base + delta;
    });
    // In a cluster, live buckets are read again while they last: what the other nodes count reaches this one.
    if (this.shared && [...this.buckets.values()].some((b) => b.end > this.now())) this.schedule();
  }

  /** Stops the timer and writes what is left (the daemon's stop). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush().catch(() => {});
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
