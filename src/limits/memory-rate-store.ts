// RateStore in memory: for tests of the limiter, and what a process without
// a store would use. Gone with the process.

import type { RateCount, RateStore } from './rate-store.ts';

export class MemoryRateStore implements RateStore {
  private readonly rows = new Map<string, RateCount>();
  /** Calls of add(), for tests that count the store's work. */
  adds = 0;

  async add(deltas: readonly RateCount[]): Promise<RateCount[]> {
    this.adds++;
    return deltas.map((d) => {
      const k = `${d.bucket}\n${d.start}`;
      if (d.count === 0 && !this.rows.has(k)) return { ...d, count: 0 };
      const row = { bucket: d.bucket, start: d.start, end: d.end, count: (this.rows.get(k)?.count ?? 0) + d.count };
      this.rows.set(k, row);
      return { ...row };
    });
  }

  async current(now: number): Promise<RateCount[]> {
    return [...this.rows.values()].filter((r) => r.end > now).map((r) => ({ ...r }));
  }

  async prune(before: number): Promise<number> {
    let n = 0;
    for (const [k, r] of this.rows) if (r.end < before && this.rows.delete(k)) n++;
    return n;
  }

  async close(): Promise<void> {}
}
