// AccountStore on the embedded SQLite file DATA/admin.db (node:sqlite): the
// same admin and api_token tables as before, plus web_session, so that a
// web-admin login survives a daemon restart. A session is stored under the
// SHA-256 of its id: reading the file gives no live cookie. What a crash may
// lose without harm (a new session, its last request time, its new stamp:
// each loss only ends a session early) is written through a second handle
// that does not wait on the disk (synchronous=NORMAL, still consistent in
// WAL mode): a login or a request does not stall the SMTP sessions on this
// event loop for an fsync. Ending a session is durable. node:sqlite
// answers synchronously; the port is asynchronous so that a PostgreSQL
// adapter fits behind the same calls.

import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { openSqlite } from '../store/sqlite.ts';
import { verifyPasswordAsync } from '../objects/password.ts';
import type { AccountStore, StoredSession } from './account-store.ts';
import type { AdminRecord, MigratableAccounts, TokenRecord } from '../store/migration.ts';
import { checkAdminName, checkKeepsAnAdmin, checkPassword, checkRole, checkTokenRequest, credentialStamp, effectiveRole, newToken, sha256, tokenId, tokenMatches } from './account-rules.ts';
import {
  AdminError,
  type AdminInfo,
  type AdminRole,
  type TokenInfo,
} from './admin-store.ts';

/** A session's lastSeen is written at most this often: a request is not a disk write. */
export const SESSION_TOUCH_MS = 60_000;

interface SessionRow {
  name: string;
  role: AdminRole;
  csrf: string;
  last_seen: number;
  stamp: string;
}

export class SqliteAccountStore implements AccountStore, MigratableAccounts {
  private readonly db: DatabaseSync;
  /** The same file, for the session writes a crash may lose. */
  private readonly light: DatabaseSync;

  constructor(file: string) {
    this.db = openSqlite(file, true);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS admin (
        name    TEXT PRIMARY KEY,
        hash    TEXT NOT NULL,
        role    TEXT NOT NULL,
        created TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS api_token (
        id      TEXT PRIMARY KEY,
        name    TEXT NOT NULL,
        digest  TEXT NOT NULL UNIQUE,
        role    TEXT NOT NULL,
        owner   TEXT NOT NULL,
        created TEXT NOT NULL,
        revoked TEXT
      );
      CREATE TABLE IF NOT EXISTS web_session (
        digest    TEXT PRIMARY KEY,
        name      TEXT NOT NULL,
        role      TEXT NOT NULL,
        csrf      TEXT NOT NULL,
        last_seen INTEGER NOT NULL,
        stamp     TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS web_session_name ON web_session (name);
    `);
    this.light = new DatabaseSync(file);
    this.light.exec('PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  }

  /** Runs `fn` in one write transaction: the last-admin checks hold against the CLI beside the daemon. */
  private tx<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      this.db.exec('COMMIT');
      return r;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private getSync(name: string): AdminInfo | null {
    const r = this.db.prepare('SELECT name, role, created FROM admin WHERE name = ?').get(name) as AdminInfo | undefined;
    return r ? { name: r.name, role: r.role, created: r.created } : null;
  }

  private adminCount(): number {
    return Number((this.db.prepare("SELECT count(*) AS n FROM admin WHERE role = 'admin'").get() as { n: number }).n);
  }

  async count(): Promise<number> {
    return Number((this.db.prepare('SELECT count(*) AS n FROM admin').get() as { n: number }).n);
  }

  async list(): Promise<AdminInfo[]> {
    return (this.db.prepare('SELECT name, role, created FROM admin ORDER BY name').all() as unknown as AdminInfo[]).map((r) => ({ name: r.name, role: r.role, created: r.created }));
  }

  async get(name: string): Promise<AdminInfo | null> {
    return this.getSync(name);
  }

  async current(name: string): Promise<(AdminInfo & { stamp: string }) | null> {
    const r = this.db.prepare('SELECT name, role, created, hash FROM admin WHERE name = ?').get(name) as (AdminInfo & { hash: string }) | undefined;
    return r ? { name: r.name, role: r.role, created: r.created, stamp: credentialStamp(r.hash) } : null;
  }

  async add(name: string, password: string, role: AdminRole, hash: string): Promise<AdminInfo> {
    checkAdminName(name);
    checkRole(role);
    checkPassword(password);
    return this.tx(() => {
      if (this.getSync(name)) throw new AdminError(`admin "${name}" already exists`);
      const created = new Date().toISOString();
      this.db.prepare('INSERT INTO admin (name, hash, role, created) VALUES (?, ?, ?, ?)').run(name, hash, role, created);
      return { name, role, created };
    });
  }

  async setPassword(name: string, password: string, hash: string): Promise<void> {
    checkPassword(password);
    const r = this.db.prepare('UPDATE admin SET hash = ? WHERE name = ?').run(hash, name);
    if (Number(r.changes) === 0) throw new AdminError(`no admin "${name}"`);
  }

  async setRole(name: string, role: AdminRole): Promise<void> {
    checkRole(role);
    this.tx(() => {
      const target = this.getSync(name);
      if (!target) throw new AdminError(`no admin "${name}"`);
      checkKeepsAnAdmin(name, target.role, role, this.adminCount());
      this.db.prepare('UPDATE admin SET role = ? WHERE name = ?').run(role, name);
    });
  }

  async remove(name: string): Promise<void> {
    this.tx(() => {
      const target = this.getSync(name);
      if (!target) throw new AdminError(`no admin "${name}"`);
      checkKeepsAnAdmin(name, target.role, null, this.adminCount());
      this.db.prepare('DELETE FROM admin WHERE name = ?').run(name);
      this.db.prepare('UPDATE api_token SET revoked = ? WHERE owner = ? AND revoked IS NULL').run(new Date().toISOString(), name);
      this.db.prepare('DELETE FROM web_session WHERE name = ?').run(name);
    });
  }

  async verify(name: string, password: string): Promise<AdminInfo | null> {
    const row = this.db.prepare('SELECT name, hash, role, created FROM admin WHERE name = ?').get(name) as (AdminInfo & { hash: string }) | undefined;
    const ok = await verifyPasswordAsync(password, row?.hash);
    return ok && row ? { name: row.name, role: row.role, created: row.created } : null;
  }

  async createToken(name: string, role: AdminRole, owner: string): Promise<{ token: string; info: TokenInfo }> {
    checkTokenRequest(name, role, this.getSync(owner), owner);
    const { id, secret, digest } = newToken();
    const created = new Date().toISOString();
    this.db.prepare('INSERT INTO api_token (id, name, digest, role, owner, created) VALUES (?, ?, ?, ?, ?, ?)').run(id, name, digest, role, owner, created);
    return { token: secret, info: { id, name, role, owner, created, revoked: null } };
  }

  async tokens(): Promise<TokenInfo[]> {
    return (this.db.prepare('SELECT id, name, role, owner, created, revoked FROM api_token ORDER BY created, id').all() as unknown as TokenInfo[]).map((r) => ({ ...r }));
  }

  async revokeToken(id: string): Promise<void> {
    const r = this.db.prepare('UPDATE api_token SET revoked = ? WHERE id = ? AND revoked IS NULL').run(new Date().toISOString(), id);
    if (Number(r.changes) === 0) throw new AdminError(`no active token "${id}"`);
  }

  async checkToken(secret: string): Promise<TokenInfo | null> {
    const id = tokenId(secret);
    if (id === null) return null;
    const row = this.db.prepare('SELECT id, name, digest, role, owner, created, revoked FROM api_token WHERE id = ?').get(id) as (TokenInfo & { digest: string }) | undefined;
    if (!row || row.revoked !== null || !tokenMatches(secret, row.digest)) return null;
    const owner = this.getSync(row.owner);
    if (!owner) return null;
    const role = effectiveRole(row.role, owner.role);
    return { id: row.id, name: row.name, role, owner: row.owner, created: row.created, revoked: null };
  }

  async createSession(s: Omit<StoredSession, 'lastSeen'>, now: number, idleMs?: number): Promise<void> {
    // Sessions nobody came back to are swept here (otherwise only noticed when used again).
    if (idleMs !== undefined) this.light.prepare('DELETE FROM web_session WHERE last_seen < ?').run(now - idleMs);
    this.light.prepare('INSERT INTO web_session (digest, name, role, csrf, last_seen, stamp) VALUES (?, ?, ?, ?, ?, ?)').run(sha256(s.id), s.name, s.role, s.csrf, now, s.stamp);
  }

  async touchSession(id: string, now: number, idleMs: number): Promise<StoredSession | null> {
    const digest = sha256(id);
    const row = this.db.prepare('SELECT name, role, csrf, last_seen, stamp FROM web_session WHERE digest = ?').get(digest) as SessionRow | undefined;
    if (!row) return null;
    if (now - row.last_seen > idleMs) {
      this.db.prepare('DELETE FROM web_session WHERE digest = ?').run(digest);
      return null;
    }
    let lastSeen = row.last_seen;
    if (now - lastSeen >= SESSION_TOUCH_MS) {
      lastSeen = now;
      this.light.prepare('UPDATE web_session SET last_seen = ? WHERE digest = ?').run(now, digest);
    }
    return { id, name: row.name, role: row.role, csrf: row.csrf, lastSeen, stamp: row.stamp };
  }

  async restampSession(id: string, stamp: string): Promise<void> {
    this.light.prepare('UPDATE web_session SET stamp = ? WHERE digest = ?').run(stamp, sha256(id));
  }

  async deleteSession(id: string): Promise<void> {
    this.db.prepare('DELETE FROM web_session WHERE digest = ?').run(sha256(id));
  }

  async dropSessions(name: string, keep: string | null): Promise<void> {
    if (keep === null) this.db.prepare('DELETE FROM web_session WHERE name = ?').run(name);
    else this.db.prepare('DELETE FROM web_session WHERE name = ? AND digest <> ?').run(name, sha256(keep));
  }

  async exportAdmins(): Promise<AdminRecord[]> {
    return (this.db.prepare('SELECT name, role, created, hash FROM admin ORDER BY name').all() as unknown as AdminRecord[]).map((r) => ({ name: r.name, role: r.role, created: r.created, hash: r.hash }));
  }

  async importAdmin(a: AdminRecord): Promise<boolean> {
    const r = this.db.prepare('INSERT INTO admin (name, hash, role, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(a.name, a.hash, a.role, a.created);
    return Number(r.changes) > 0;
  }

  async exportTokens(): Promise<TokenRecord[]> {
    return (this.db.prepare('SELECT id, name, digest, role, owner, created, revoked FROM api_token ORDER BY created, id').all() as unknown as TokenRecord[]).map((r) => ({ ...r }));
  }

  async importToken(t: TokenRecord): Promise<boolean> {
    const r = this.db
      .prepare('INSERT INTO api_token (id, name, digest, role, owner, created, revoked) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(t.id, t.name, t.digest, t.role, t.owner, t.created, t.revoked);
    return Number(r.changes) > 0;
  }

  async close(): Promise<void> {
    if (this.light.isOpen) this.light.close();
    if (this.db.isOpen) this.db.close();
  }
}

export function openAccountStore(dataDir: string): SqliteAccountStore {
  return new SqliteAccountStore(join(dataDir, 'admin.db'));
}
