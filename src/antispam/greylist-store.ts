// The GreylistStore port: remembers greylisting triplets. The decision is
// pure (decideGreylist in greylist.ts); an adapter only reads and writes
// records. The single node keeps DATA/greylist.db (SQLite, not waiting on the
// disk: losing it greylists some senders again); a cluster keeps one table in
// PostgreSQL, so that a sender's retry is accepted by whichever node it reaches.

import type { GreylistTimes, GreylistVerdict } from './greylist.ts';

export interface GreylistStore {
  /** Decides for one triplet (tripletKey()) at `now` and stores the result. */
  check(key: string, now: number, t: GreylistTimes): Promise<GreylistVerdict>;
  /** Drops what can no longer matter; returns how many records went. */
  prune(now: number, t: GreylistTimes): Promise<number>;
  close(): Promise<void>;
}
