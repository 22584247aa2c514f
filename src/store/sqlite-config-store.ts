// ConfigStore on the embedded SQLite file (node:sqlite) in the data
// directory. Each apply inserts the revision and moves the active pointer in
// one transaction, so a crash leaves either the old or the new revision
// active, never a mix. WAL with synchronous=FULL: an apply that returned is on
// disk. node:sqlite answers synchronously; the port is asynchronous so that a
// PostgreSQL adapter fits behind the same calls.
//
// Another process on the same data directory (the CLI's `config import`
// beside a running daemon) commits to the same file: while anyone is
// subscribed, `PRAGMA data_version` (which moves when another connection
// commits) is read on a short timer, and a changed active revision is
// reported to the subscribers. The CLI also tells the running daemon over its
// control socket, so the poll is only the fallback.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { openSqlite } from './sqlite.ts';
import { ConcurrentApplyError, type ConfigStore, type Revision, type RevisionInfo, type RevisionMeta } from './config-store.ts';
import type { Settings } from '../config/document.ts';
import type { MigratableConfig } from './migration.ts';

interface Row {
  number: number;
  created: string;
  author: string;
  comment: string;
  document: string;
}

/** How often a subscribed store looks for commits by other processes. */
export const DEFAULT_POLL_MS = 250;

export class SqliteConfigStore implements ConfigStore, MigratableConfig {
  private readonly db: DatabaseSync;
  private readonly listeners = new Set<(number: number) => void>();
  private readonly activeNumberQuery: StatementSync;
  private readonly dataVersionQuery: StatementSync;
  private readonly pollMs: number;
  private poll: NodeJS.Timeout | null = null;
  private dataVersion = 0;
  /** The active number last reported to the subscribers. */
  private reported: number | null = null;
  private closed = false;

  constructor(file: string, opts: { pollMs?: number } = {}) {
    this.pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
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
    this.dataVersionQuery = this.db.prepare('PRAGMA data_version');
  }

  async active(): Promise<Revision | null> {
    const row = this.db.prepare('SELECT r.* FROM config_revision r JOIN config_active a ON a.number = r.number WHERE a.id = 1').get() as Row | undefined;
    return row ? toRevision(row) : null;
  }

  async activeNumber(): Promise<number | null> {
    return this.readActiveNumber();
  }

  private readActiveNumber(): number | null {
    const row = this.activeNumberQuery.get() as { number: number } | undefined;
    return row?.number ?? null;
  }

  async get(number: number): Promise<Revision | null> {
    const row = this.db.prepare('SELECT * FROM config_revision WHERE number = ?').get(number) as Row | undefined;
    return row ? toRevision(row) : null;
  }

  async history(limit = 1000): Promise<RevisionInfo[]> {
    const rows = this.db.prepare('SELECT number, created, author, comment FROM config_revision ORDER BY number DESC LIMIT ?').all(limit) as unknown as RevisionInfo[];
    return rows.map((r) => ({ number: r.number, created: r.created, author: r.author, comment: r.comment }));
  }

  async apply(settings: Settings, meta: RevisionMeta, expectActive?: number | null): Promise<Revision> {
    this.db.exec('BEGIN IMMEDIATE');
    let rev: Revision;
    try {
      const actual = this.readActiveNumber();
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
    // Before apply() resolves, as the port promises.
    this.report(rev.number);
    return rev;
  }

  subscribe(listener: (number: number) => void): () => void {
    this.listeners.add(listener);
    if (!this.poll && !this.closed) {
      this.reported = this.readActiveNumber();
      this.dataVersion = this.readDataVersion();
      this.poll = setInterval(() => this.check(), this.pollMs);
      this.poll.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopPolling();
    };
  }

  /** One cheap pragma; the active number is read only when another connection committed. */
  private check(): void {
    if (this.closed) return;
    let version: number;
    try {
      version = this.readDataVersion();
      if (version === this.dataVersion) return;
      this.dataVersion = version;
      const n = this.readActiveNumber();
      if (n !== null) this.report(n);
    } catch {
      // A busy or briefly unreadable file: the next tick tries again.
    }
  }

  private readDataVersion(): number {
    return Number((this.dataVersionQuery.get() as { data_version: number }).data_version);
  }

  private report(number: number): void {
    if (number === this.reported) return;
    this.reported = number;
    for (const l of [...this.listeners]) {
      try {
        l(number);
      } catch {
        // one listener's fault must not keep the news from the others
      }
    }
  }

  private stopPolling(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  /** Oldest first, one row at a time (a long history is not read into memory at once). */
  async *exportRevisions(): AsyncIterable<Revision> {
    for (const row of this.db.prepare('SELECT * FROM config_revision ORDER BY number').iterate()) yield toRevision(row as unknown as Row);
  }

  async importRevision(rev: Revision): Promise<boolean> {
    const r = this.db
      .prepare('INSERT INTO config_revision (number, created, author, comment, document) VALUES (?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING')
      .run(rev.number, rev.created, rev.author, rev.comment, JSON.stringify(rev.settings));
    return Number(r.changes) > 0;
  }

  async importActive(number: number): Promise<void> {
    this.db.prepare('INSERT INTO config_active (id, number) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET number = excluded.number').run(number);
    this.report(number);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    this.listeners.clear();
    this.db.close();
  }
}

function toRevision(row: Row): Revision {
  return { number: row.number, created: row.created, author: row.author, comment: row.comment, settings: JSON.parse(row.document) as Settings };
}
