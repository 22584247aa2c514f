// PortalStore on the embedded SQLite file DATA/portal.db: the personal sender
// lists (durable: a user's saved list must survive a crash) and the portal
// sessions, stored under the SHA-256 of their id (reading the file gives no
// live cookie). Changes are announced in process: on the single node only
// the daemon (its admin listener) writes the lists.

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { DatabaseSync } from 'node:sqlite';
import { openSqlite } from '../store/sqlite.ts';
import { TOUCH_EVERY_MS, type PortalSession, type PortalStore } from './portal-store.ts';
import type { SenderLists } from './sender-lists.ts';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

interface SessionRow {
  name: string;
  directory: string | null;
  csrf: string;
  stamp: string;
  last_seen: number;
}

export class SqlitePortalStore implements PortalStore {
  private readonly db: DatabaseSync;
  private readonly changes = new EventEmitter();

  constructor(file: string) {
    this.db = openSqlite(file, true);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS sender_list (
        owner TEXT NOT NULL,
        kind  TEXT NOT NULL CHECK (kind IN ('allow', 'block')),
        entry TEXT NOT NULL,
        PRIMARY KEY (owner, kind, entry)
      );
      CREATE TABLE IF NOT EXISTS portal_session (
        digest    TEXT PRIMARY KEY,
        name      TEXT NOT NULL,
        directory TEXT,
        csrf      TEXT NOT NULL,
        stamp     TEXT NOT NULL,
        last_seen INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS portal_session_seen ON portal_session (last_seen);
    `);
    this.changes.setMaxListeners(0);
  }

  async lists(owner: string): Promise<SenderLists> {
    const out: SenderLists = { allow: [], block: [] };
    for (const row of this.db.prepare('SELECT kind, entry FROM sender_list WHERE owner = ? ORDER BY kind, entry').iterate(owner)) {
      const r = row as { kind: 'allow' | 'block'; entry: string };
      out[r.kind].push(r.entry);
    }
    return out;
  }

  async setLists(owners: readonly string[], lists: SenderLists): Promise<void> {
    const del = this.db.prepare('DELETE FROM sender_list WHERE owner = ?');
    const ins = this.db.prepare('INSERT INTO sender_list (owner, kind, entry) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const owner of owners) {
        del.run(owner);
        for (const e of lists.allow) ins.run(owner, 'allow', e);
        for (const e of lists.block) ins.run(owner, 'block', e);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    for (const owner of owners) this.changes.emit('change', owner);
  }

  async owners(limit: number): Promise<string[]> {
    return (this.db.prepare('SELECT DISTINCT owner FROM sender_list ORDER BY owner LIMIT ?').all(limit) as { owner: string }[]).map((r) => r.owner);
  }

  subscribe(fn: (owner: string | null) => void): () => void {
    const listener = (owner: string | null) => {
      try {
        fn(owner);
      } catch {
        // A subscriber's fault is its own.
      }
    };
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  async createSession(s: Omit<PortalSession, 'lastSeen'>, now: number, idleMs: number): Promise<void> {
    this.db.prepare('DELETE FROM portal_session WHERE last_seen < ?').run(now - idleMs);
    this.db.prepare('INSERT INTO portal_session (digest, name, directory, csrf, stamp, last_seen) VALUES (?, ?, ?, ?, ?, ?)').run(sha256(s.id), s.name, s.directory, s.csrf, s.stamp, now);
  }

  async touchSession(id: string, now: number, idleMs: number): Promise<PortalSession | null> {
    const digest = sha256(id);
    const row = this.db.prepare('SELECT name, directory, csrf, stamp, last_seen FROM portal_session WHERE digest = ?').get(digest) as SessionRow | undefined;
    if (!row) return null;
    if (now - row.last_seen > idleMs) {
      this.db.prepare('DELETE FROM portal_session WHERE digest = ?').run(digest);
      return null;
    }
    if (now - row.last_seen >= TOUCH_EVERY_MS) this.db.prepare('UPDATE portal_session SET last_seen = ? WHERE digest = ?').run(now, digest);
    return { id, name: row.name, directory: row.directory, csrf: row.csrf, stamp: row.stamp, lastSeen: row.last_seen };
  }

  async deleteSession(id: string): Promise<void> {
    this.db.prepare('DELETE FROM portal_session WHERE digest = ?').run(sha256(id));
  }

  async close(): Promise<void> {
    this.changes.removeAllListeners();
    if (this.db.isOpen) this.db.close();
  }
}
