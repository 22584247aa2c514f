// GreylistStore on the embedded SQLite file DATA/greylist.db, as before:
// apart from the settings store, and written without waiting on the disk
// (losing it in a crash only greylists some senders again). node:sqlite
// answers synchronously; the port is asynchronous so that a PostgreSQL
// adapter fits behind the same calls.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { join } from 'node:path';
import { openSqlite } from '../store/sqlite.ts';
import { decideGreylist, type GreylistTimes, type GreylistVerdict } from './greylist.ts';
import type { GreylistStore } from './greylist-store.ts';
import type { GreylistRecord, MigratableGreylist } from '../store/migration.ts';

export class SqliteGreylistStore implements GreylistStore, MigratableGreylist {
  private readonly db: DatabaseSync;
  /** Asked at RCPT: prepared once. */
  private readonly read: StatementSync;
  private readonly write: StatementSync;

  constructor(file: string) {
    this.db = openSqlite(file, false);
    this.db.exec('CREATE TABLE IF NOT EXISTS greylist (triplet TEXT PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL, passed INTEGER NOT NULL)');
    this.read = this.db.prepare('SELECT first, last, passed FROM greylist WHERE triplet = ?');
    this.write = this.db.prepare('INSERT INTO greylist (triplet, first, last, passed) VALUES (?, ?, ?, ?) ON CONFLICT(triplet) DO UPDATE SET first = excluded.first, last = excluded.last, passed = excluded.passed');
  }

  async check(key: string, now: number, t: GreylistTimes): Promise<GreylistVerdict> {
    const row = this.read.get(key) as { first: number; last: number; passed: number } | undefined;
    const rec = row ? { first: row.first, last: row.last, passed: row.passed === 1 } : null;
    const { verdict, store } = decideGreylist(rec, now, t);
    if (!rec || rec.first !== store.first || rec.last !== store.last || rec.passed !== store.passed) {
      this.write.run(key, store.first, store.last, store.passed ? 1 : 0);
    }
    return verdict;
  }

  async prune(now: number, t: GreylistTimes): Promise<number> {
    const r = this.db.prepare('DELETE FROM greylist WHERE (passed = 1 AND last < ?) OR (passed = 0 AND first < ?)').run(now - t.lifetimeMs, now - t.expiryMs);
    return Number(r.changes);
  }

  async *exportRecords(batch = 1000): AsyncIterable<GreylistRecord[]> {
    let out: GreylistRecord[] = [];
    for (const row of this.db.prepare('SELECT triplet, first, last, passed FROM greylist ORDER BY triplet').iterate()) {
      const r = row as { triplet: string; first: number; last: number; passed: number };
      out.push({ triplet: r.triplet, first: Number(r.first), last: Number(r.last), passed: r.passed === 1 });
      if (out.length >= batch) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }

  async importRecords(records: readonly GreylistRecord[]): Promise<number> {
    const insert = this.db.prepare('INSERT INTO greylist (triplet, first, last, passed) VALUES (?, ?, ?, ?) ON CONFLICT (triplet) DO NOTHING');
    let n = 0;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of records) n += Number(insert.run(r.triplet, r.first, r.last, r.passed ? 1 : 0).changes);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

export function openGreylistStore(dataDir: string): SqliteGreylistStore {
  return new SqliteGreylistStore(join(dataDir, 'greylist.db'));
}

/** Prunes old triplets every `everyMs` (an hour), with the times the settings give at that moment (null: greylisting off, nothing pruned). */
export function schedulePruning(store: GreylistStore, times: () => GreylistTimes | null, everyMs = 3_600_000): () => void {
  const timer = setInterval(() => {
    const t = times();
    if (t) void store.prune(Date.now(), t).catch(() => {});
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
