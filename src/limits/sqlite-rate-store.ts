// RateStore on the embedded SQLite file DATA/rate.db, the single node's: one
// row per bucket and window. Made on first use, which only a configured limit
// (the daemon's limiter) or `limits show` causes: a data directory without
// limits gets no new file. Written without waiting on the disk: a crash loses
// at most the last counts, which only lets a sender send a little more.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { openSqlite } from '../store/sqlite.ts';
import type { RateCount, RateStore } from './rate-store.ts';

export class SqliteRateStore implements RateStore {
  private readonly db: DatabaseSync;
  private readonly upsert: StatementSync;
  private readonly live: StatementSync;
  private readonly drop: StatementSync;
  private readonly read: StatementSync;

  constructor(file: string) {
    this.db = openSqlite(file, false);
    this.db.exec('CREATE TABLE IF NOT EXISTS rate_counter (bucket TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (bucket, start)) WITHOUT ROWID');
    this.upsert = this.db.prepare('INSERT INTO rate_counter (bucket, start, end, count) VALUES (?, ?, ?, ?) ON CONFLICT (bucket, start) DO UPDATE SET count = count + excluded.count RETURNING count');
    this.live = this.db.prepare('SELECT bucket, start, end, count FROM rate_counter WHERE end > ? ORDER BY bucket, start');
    this.drop = this.db.prepare('DELETE FROM rate_counter WHERE end < ?');
    this.read = this.db.prepare('SELECT count FROM rate_counter WHERE bucket = ? AND start = ?');
  }

  async add(deltas: readonly RateCount[]): Promise<RateCount[]> {
    if (deltas.length === 0) return [];
    const out: RateCount[] = [];
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const d of deltas) {
        // A read makes no row: only counted buckets are stored.
        const row = (d.count === 0 ? this.read.get(d.bucket, d.start) : this.upsert.get(d.bucket, d.start, d.end, d.count)) as { count: number } | undefined;
        out.push({ bucket: d.bucket, start: d.start, end: d.end, count: Number(row?.count ?? 0) });
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    return out;
  }

  async current(now: number): Promise<RateCount[]> {
    return (this.live.all(now) as { bucket: string; start: number; end: number; count: number }[]).map((r) => ({ bucket: r.bucket, start: Number(r.start), end: Number(r.end), count: Number(r.count) }));
  }

  async prune(before: number): Promise<number> {
    return Number(this.drop.run(before).changes);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
