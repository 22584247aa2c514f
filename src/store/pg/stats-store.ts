// StatsStore in PostgreSQL: one row per node and minute (replaced when a node
// hands a minute in again), summed per minute for the dashboard.

import type { StatsStore } from '../../api/stats-store.ts';
import type { MinuteCounts } from '../../api/stats.ts';
import type { Sql } from './connect.ts';

export class PgStatsStore implements StatsStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async record(node: string, minutes: readonly MinuteCounts[]): Promise<void> {
    if (minutes.length === 0) return;
    const rows = minutes.map((m) => {
      const minute = Date.parse(m.minute);
      if (!Number.isFinite(minute)) throw new Error(`not a minute: ${m.minute}`);
      return { minute, node, accepted: m.accepted, relayed: m.relayed, refused: m.refused, deferred: m.deferred, auth_failed: m.auth_failed, auth_succeeded: m.auth_succeeded, rate_limited: m.rate_limited ?? 0 };
    });
    await this.sql`
      INSERT INTO stats_minute ${this.sql(rows, 'minute', 'node', 'accepted', 'relayed', 'refused', 'deferred', 'auth_failed', 'auth_succeeded', 'rate_limited')}
      ON CONFLICT (minute, node) DO UPDATE SET accepted = excluded.accepted, relayed = excluded.relayed, refused = excluded.refused,
        deferred = excluded.deferred, auth_failed = excluded.auth_failed, auth_succeeded = excluded.auth_succeeded, rate_limited = excluded.rate_limited`;
  }

  async series(since: number): Promise<MinuteCounts[]> {
    const rows = await this.sql<{ minute: number; accepted: number; relayed: number; refused: number; deferred: number; auth_failed: number; auth_succeeded: number; rate_limited: number }[]>`
      SELECT minute, sum(accepted)::int AS accepted, sum(relayed)::int AS relayed, sum(refused)::int AS refused, sum(deferred)::int AS deferred,
        sum(auth_failed)::int AS auth_failed, sum(auth_succeeded)::int AS auth_succeeded, sum(rate_limited)::int AS rate_limited
      FROM stats_minute WHERE minute >= ${since} GROUP BY minute ORDER BY minute`;
    return rows.map((r) => ({ minute: new Date(Number(r.minute)).toISOString(), accepted: r.accepted, relayed: r.relayed, refused: r.refused, deferred: r.deferred, auth_failed: r.auth_failed, auth_succeeded: r.auth_succeeded, rate_limited: r.rate_limited }));
  }

  async own(node: string, since: number): Promise<MinuteCounts[]> {
    const rows = await this.sql<{ minute: number; accepted: number; relayed: number; refused: number; deferred: number; auth_failed: number; auth_succeeded: number; rate_limited: number }[]>`
      SELECT minute, accepted, relayed, refused, deferred, auth_failed, auth_succeeded, rate_limited FROM stats_minute WHERE node = ${node} AND minute >= ${since} ORDER BY minute`;
    return rows.map((r) => ({ minute: new Date(Number(r.minute)).toISOString(), accepted: r.accepted, relayed: r.relayed, refused: r.refused, deferred: r.deferred, auth_failed: r.auth_failed, auth_succeeded: r.auth_succeeded, rate_limited: r.rate_limited }));
  }

  /** Drops minutes older than `before` (the dashboard shows the last hour); returns how many rows went. */
  async prune(before: number): Promise<number> {
    return (await this.sql`DELETE FROM stats_minute WHERE minute < ${before}`).count;
  }

  async close(): Promise<void> {}
}
