// StatsStore on the embedded SQLite file DATA/stats.db, the single node's
// default: one row per node and minute, as the cluster's PostgreSQL table, so
// that the dashboard's counts survive a restart. Written without waiting on
// the disk (a crash may lose the last minutes' counts, nothing else), and only
// when the node hands its minutes over (every heartbeat, on stop), never per
// event. The file and its table are created when missing: a data directory
// from before keeps working. node:sqlite answers synchronously; the port is
// asynchronous so that the PostgreSQL adapter fits behind the same calls.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { openSqlite } from '../store/sqlite.ts';
import type { StatsStore } from './stats-store.ts';
import type { MinuteCounts } from './stats.ts';

/** A stored minute: the counts, the minute as epoch ms. */
type Row = Omit<MinuteCounts, 'minute'> & { minute: number };

const toCounts = (r: Row): MinuteCounts => ({
  minute: new Date(Number(r.minute)).toISOString(),
  accepted: Number(r.accepted),
  relayed: Number(r.relayed),
  refused: Number(r.refused),
  deferred: Number(r.deferred),
  auth_failed: Number(r.auth_failed),
  auth_succeeded: Number(r.auth_succeeded),
  rate_limited: Number(r.rate_limited ?? 0),
});

export class SqliteStatsStore implements StatsStore {
  private readonly db: DatabaseSync;
  private readonly upsert: StatementSync;
  private readonly sum: StatementSync;
  private readonly mine: StatementSync;
  private readonly drop: StatementSync;

  constructor(file: string) {
    this.db = openSqlite(file, false);
    this.db.exec(`CREATE TABLE IF NOT EXISTS stats_minute (minute INTEGER NOT NULL, node TEXT NOT NULL, accepted INTEGER NOT NULL, relayed INTEGER NOT NULL,
      refused INTEGER NOT NULL, deferred INTEGER NOT NULL, auth_failed INTEGER NOT NULL, auth_succeeded INTEGER NOT NULL, PRIMARY KEY (minute, node)) WITHOUT ROWID`);
    // Added with the rate limits: a stats.db from before gets the column (0 for its minutes).
    const cols = this.db.prepare('PRAGMA table_info(stats_minute)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'rate_limited')) this.db.exec('ALTER TABLE stats_minute ADD COLUMN rate_limited INTEGER NOT NULL DEFAULT 0');
    this.upsert = this.db.prepare(`INSERT INTO stats_minute (minute, node, accepted, relayed, refused, deferred, auth_failed, auth_succeeded, rate_limited) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (minute, node) DO UPDATE SET accepted = excluded.accepted, relayed = excluded.relayed, refused = excluded.refused,
        deferred = excluded.deferred, auth_failed = excluded.auth_failed, auth_succeeded = excluded.auth_succeeded, rate_limited = excluded.rate_limited`);
    this.sum = this.db.prepare(`SELECT minute, sum(accepted) AS accepted, sum(relayed) AS relayed, sum(refused) AS refused, sum(deferred) AS deferred,
      sum(auth_failed) AS auth_failed, sum(auth_succeeded) AS auth_succeeded, sum(rate_limited) AS rate_limited FROM stats_minute WHERE minute >= ? GROUP BY minute ORDER BY minute`);
    this.mine = this.db.prepare(`SELECT minute, accepted, relayed, refused, deferred, auth_failed, auth_succeeded, rate_limited FROM stats_minute
      WHERE node = ? AND minute >= ? ORDER BY minute`);
    this.drop = this.db.prepare('DELETE FROM stats_minute WHERE minute < ?');
  }

  async record(node: string, minutes: readonly MinuteCounts[]): Promise<void> {
    if (minutes.length === 0) return;
    const rows = minutes.map((m) => {
      const minute = Date.parse(m.minute);
      if (!Number.isFinite(minute)) throw new Error(`not a minute: ${m.minute}`);
      return [minute, node, m.accepted, m.relayed, m.refused, m.deferred, m.auth_failed, m.auth_succeeded, m.rate_limited ?? 0] as const;
    });
    // One transaction: the minutes handed over together are stored together.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of rows) this.upsert.run(...r);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async series(since: number): Promise<MinuteCounts[]> {
    return (this.sum.all(since) as unknown as Row[]).map(toCounts);
  }

  async own(node: string, since: number): Promise<MinuteCounts[]> {
    return (this.mine.all(node, since) as unknown as Row[]).map(toCounts);
  }

  /** Drops minutes older than `before` (the dashboard shows the last hour); returns how many rows went. */
  async prune(before: number): Promise<number> {
    return Number(this.drop.run(before).changes);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
