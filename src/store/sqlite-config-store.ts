// ConfigStore on the embedded SQLite file (node:sqlite) in the data
// directory. Each apply inserts the revision and moves the active pointer in
// one transaction, so a crash leaves either the old or the new revision
// active, never a mix. WAL with synchronous=FULL: an apply that returned is on
// disk.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { openSqlite } from './sqlite.ts';
import { ConcurrentApplyError, type LegacyConfigStore, type Revision, type RevisionInfo, type RevisionMeta } from './config-store.ts';
import type { Settings } from '../config/document.ts';

interface Row {
  number: number;
  created: string;
  author: string;
  comment: string;
  document: string;
}

export class SqliteConfigStore implements LegacyConfigStore {
  private readonly db: DatabaseSync;
  private readonly listeners = new Set<(rev: Revision) => void>();
  /** Asked at every new connection: prepared once (preparing cost more than the query). */
  private readonly activeNumberQuery: StatementSync;

  constructor(file: string) {
    this.db = openSqlite(file, true);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS config_revision (
        number   INTEGER PRIMARY KEY,
        created  TEXT NOT NULL,
        author   TEXT NOT NULL,
        comment  TEXT NOT NULL,
        document TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS config_active (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        number INTEGER NOT NULL REFERENCES config_revision(number)
      );
    `);
    this.activeNumberQuery = this.db.prepare('SELECT number FROM config_active WHERE id = 1');
  }

  active(): Revision | null {
    const row = this.db.prepare('SELECT r.* FROM config_revision r JOIN config_active a ON a.number = r.number WHERE a.id = 1').get() as Row | undefined;
    return row ? toRevision(row) : null;
  }

  activeNumber(): number | null {
    const row = this.activeNumberQuery.get() as { number: number } | undefined;
    return row?.number ?? null;
  }

  get(number: number): Revision | null {
    const row = this.db.prepare('SELECT * FROM config_revision WHERE number = ?').get(number) as Row | undefined;
    return row ? toRevision(row) : null;
  }

  history(limit = 1000): RevisionInfo[] {
    const rows = this.db.prepare('SELECT number, created, author, comment FROM config_revision ORDER BY number DESC LIMIT ?').all(limit) as unknown as RevisionInfo[];
    return rows.map((r) => ({ number: r.number, created: r.created, author: r.author, comment: r.comment }));
  }

  apply(settings: Settings, meta: RevisionMeta, expectActive?: number | null): Revision {
    this.db.exec('BEGIN IMMEDIATE');
    let rev: Revision;
    try {
      const current = this.db.prepare('SELECT number FROM config_active WHERE id = 1').get() as { number: number } | undefined;
      const actual = current?.number ?? null;
      if (expectActive !== undefined && expectActive !== actual) throw new ConcurrentApplyError(expectActive, actual);
      const created = new Date().toISOString();
      const document = JSON.stringify(settings);
      const res = this.db.prepare('INSERT INTO config_revision (created, author, comment, document) VALUES (?, ?, ?, ?)').run(created, meta.author, meta.comment, document);
      const number = Number(res.lastInsertRowid);
      this.db.prepare('INSERT INTO config_active (id, number) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET number = excluded.number').run(number);
      this.db.exec('COMMIT');
      rev = { number, created, author: meta.author, comment: meta.comment, settings: JSON.parse(document) as Settings };
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    for (const l of this.listeners) l(rev);
    return rev;
  }

  subscribe(listener: (rev: Revision) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.db.close();
  }
}

function toRevision(row: Row): Revision {
  return { number: row.number, created: row.created, author: row.author, comment: row.comment, settings: JSON.parse(row.document) as Settings };
}
