// The StatsStore port: the dashboard's per-minute traffic counts. Each node
// counts its own events in memory (Stats, src/api/stats.ts) and hands its
// finished minutes to the store; the dashboard reads the sum over every node.
// The single node keeps them in SQLite (DATA/stats.db), a cluster in
// PostgreSQL, one row per node and minute in both: the counts survive a
// restart, and a restarted node carries on from its own stored minutes.

import type { MinuteCounts } from './stats.ts';

export interface StatsStore {
  /** Adds (or replaces) this node's counts for the given minutes. */
  record(node: string, minutes: readonly MinuteCounts[]): Promise<void>;
  /** The counts of every node summed per minute, for minutes starting at or after `since` (epoch ms), oldest first. */
  series(since: number): Promise<MinuteCounts[]>;
  /** This node's own stored minutes starting at or after `since`, oldest first: a restarted node adds its new counts to them rather than replacing them. */
  own?(node: string, since: number): Promise<MinuteCounts[]>;
  /** Drops minutes older than `before` (epoch ms), for a store that keeps them (the daemon calls it on a timer); absent when the store forgets by itself. */
  prune?(before: number): Promise<number>;
  close(): Promise<void>;
}
