// RateStore in PostgreSQL: one row per bucket and window shared by every
// node, so that a cluster counts together. A node adds its local counts in
// one statement (an upsert that adds), which also reads back the totals the
// other nodes brought.

import type { RateCount, RateStore } from '../../limits/rate-store.ts';
import type { Sql } from './connect.ts';

export class PgRateStore implements RateStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async add(deltas: readonly RateCount[]): Promise<RateCount[]> {
    if (deltas.length === 0) return [];
    // Sorted, so that two nodes adding to the same buckets lock their rows in one order (no deadlock).
    // Zero deltas only read: a bucket merely looked at makes no row.
    const sorted = deltas.filter((d) => d.count !== 0).sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : a.start - b.start));
    const reads = deltas.filter((d) => d.count === 0);
    type Row = { bucket: string; start: string | number; count: string | number };
    const rows: Row[] = [];
    if (sorted.length > 0)
      rows.push(
        ...(await this.sql<Row[]>`
      INSERT INTO rate_counter (bucket, start_ms, end_ms, count)
      SELECT * FROM unnest(${sorted.map((d) => d.bucket)}::text[], ${sorted.map((d) => d.start)}::bigint[], ${sorted.map((d) => d.end)}::bigint[], ${sorted.map((d) => d.count)}::bigint[])
      ON CONFLICT (bucket, start_ms) DO UPDATE SET count = rate_counter.count + excluded.count
      RETURNING bucket, start_ms AS start, count`),
      );
    if (reads.length > 0)
      rows.push(
        ...(await this.sql<Row[]>`
      SELECT c.bucket, c.start_ms AS start, c.count FROM rate_counter c
      JOIN unnest(${reads.map((d) => d.bucket)}::text[], ${reads.map((d) => d.start)}::bigint[]) AS k(bucket, start_ms) ON c.bucket = k.bucket AND c.start_ms = k.start_ms`),
      );
    const totals = new Map(rows.map((r) => [`${r.bucket}\n${Number(r.start)}`, Number(r.count)]));
    return deltas.map((d) => ({ bucket: d.bucket, start: d.start, end: d.end, count: totals.get(`${d.bucket}\n${d.start}`) ?? d.count }));
  }

  async current(now: number): Promise<RateCount[]> {
    const rows = await this.sql<{ bucket: string; start: string; end: string; count: string }[]>`
      SELECT bucket, start_ms AS start, end_ms AS end, count FROM rate_counter WHERE end_ms > ${now} ORDER BY bucket, start_ms`;
    return rows.map((r) => ({ bucket: r.bucket, start: Number(r.start), end: Number(r.end), count: Number(r.count) }));
  }

  async prune(before: number): Promise<number> {
    return (await this.sql`DELETE FROM rate_counter WHERE end_ms < ${before}`).count;
  }

  async close(): Promise<void> {}
}
