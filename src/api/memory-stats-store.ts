// StatsStore in memory, for tests of Stats that need no file: the minutes
// handed in, kept for two hours and gone with the process. The single node
// keeps them in SQLite (sqlite-stats-store.ts), a cluster in PostgreSQL.

import type { StatsStore } from './stats-store.ts';
import type { MinuteCounts } from './stats.ts';

const KEEP_MS = 2 * 3_600_000;
const FIELDS = ['accepted', 'relayed', 'refused', 'deferred', 'auth_failed', 'auth_succeeded', 'rate_limited'] as const;

export class MemoryStatsStore implements StatsStore {
  /** node → minute (epoch ms) → counts */
  private readonly nodes = new Map<string, Map<number, MinuteCounts>>();
  async record(node: string, minutes: readonly MinuteCounts[]): Promise<void> {
    let mine = this.nodes.get(node);
    if (!mine) this.nodes.set(node, (mine = new Map()));
    let newest = -Infinity;
    for (const m of minutes) {
      const at = Date.parse(m.minute);
      mine.set(at, { ...m });
      newest = Math.max(newest, at);
    }
    // Counted back from the newest minute handed in (the node's clock), not from ours.
    const horizon = newest - KEEP_MS;
    for (const k of mine.keys()) if (k < horizon) mine.delete(k);
  }

  async series(since: number): Promise<MinuteCounts[]> {
    const sum = new Map<number, MinuteCounts>();
    for (const mine of this.nodes.values()) {
      for (const [k, m] of mine) {
        if (k < since) continue;
        let s = sum.get(k);
        if (!s) sum.set(k, (s = { minute: m.minute, accepted: 0, relayed: 0, refused: 0, deferred: 0, auth_failed: 0, auth_succeeded: 0, rate_limited: 0 }));
        for (const f of FIELDS) s[f] += m[f];
      }
    }
    return [...sum.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
  }

  async own(node: string, since: number): Promise<MinuteCounts[]> {
    return [...(this.nodes.get(node) ?? [])].filter(([k]) => k >= since).sort((a, b) => a[0] - b[0]).map(([, m]) => ({ ...m }));
  }

  async close(): Promise<void> {
    this.nodes.clear();
  }
}
