// The RateStore port: the rate limits' counts per bucket and window, shared
// by every node of an installation (a cluster counts together). Nodes count
// locally and add their counts in batches (rate-limiter.ts); the store only
// adds and reads. The single node keeps DATA/rate.db (SQLite, made on first
// use: only when a limit is configured), a cluster one PostgreSQL table.

export interface RateCount {
  /** bucketKey() of rate-rules.ts. */
  readonly bucket: string;
  /** The window, epoch ms: [start, end). */
  readonly start: number;
  readonly end: number;
  readonly count: number;
}

export interface RateStore {
  /**
   * Adds each count (a delta; 0 reads) to its bucket and window, and returns
   * the totals after, in the same order. A zero delta makes no row: a bucket
   * that was only looked at (a refused or abandoned transaction) costs nothing.
   */
  add(deltas: readonly RateCount[]): Promise<RateCount[]>;
  /** The windows not ended at `now`, every bucket. */
  current(now: number): Promise<RateCount[]>;
  /** Drops windows that ended before `before`; returns how many went. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}
