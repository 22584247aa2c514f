// Admin accounts and API tokens for the web admin and the REST API, in
// DATA/admin.db (node:sqlite), apart from the SMTP users of the settings
// document: an admin is not a mail user, and the settings document can be
// exported and shared without them. Passwords are scrypt hashes; a token is
// shown once when created and stored only as its SHA-256.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { openSqlite } from '../store/sqlite.ts';
import { join } from 'node:path';
import { hashPassword, verifyPasswordAsync } from '../objects/password.ts';

export type AdminRole = 'admin' | 'viewer';
export const ADMIN_ROLES: readonly AdminRole[] = ['admin', 'viewer'];

export interface AdminInfo {
  name: string;
  role: AdminRole;
  created: string;
}

export interface TokenInfo {
  id: string;
  name: string;
  role: AdminRole;
  /** The admin who created it. */
  owner: string;
  created: string;
  revoked: string | null;
}

export class AdminError extends Error {}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export class AdminStore {
  private readonly db: DatabaseSync;

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
    `);
  }

  count(): number {
    return Number((this.db.prepare('SELECT count(*) AS n FROM admin').get() as { n: number }).n);
  }

  list(): AdminInfo[] {
    return (this.db.prepare('SELECT name, role, created FROM admin ORDER BY name').all() as unknown as AdminInfo[]).map((r) => ({ ...r }));
  }

  /**
   * The account with a stamp of its credentials (a digest of the password
   * hash): a session made before a password change, on the CLI or in the
   * API, carries the old stamp and ends.
   */
  current(name: string): (AdminInfo & { stamp: string }) | null {
    const r = this.db.prepare('SELECT name, role, created, hash FROM admin WHERE name = ?').get(name) as (AdminInfo & { hash: string }) | undefined;
    return r ? { name: r.name, role: r.role, created: r.created, stamp: sha256(r.hash).slice(0, 32) } : null;
  }

  get(name: string): AdminInfo | null {
    const r = this.db.prepare('SELECT name, role, created FROM admin WHERE name = ?').get(name) as AdminInfo | undefined;
    return r ? { ...r } : null;
  }

  /** `hash`: hashPassword(password) made already (the daemon hashes off its event loop). */
  add(name: string, password: string, role: AdminRole, hash?: string): AdminInfo {
    if (!NAME.test(name)) throw new AdminError(`"${name}" is not a valid admin name (letters, digits, . _ @ -; up to 64)`);
    if (!ADMIN_ROLES.includes(role)) throw new AdminError(`role must be one of ${ADMIN_ROLES.join(', ')}`);
    if (password.length < 8) throw new AdminError('the password must have at least 8 characters');
    if (this.get(name)) throw new AdminError(`admin "${name}" already exists`);
    const created = new Date().toISOString();
    this.db.prepare('INSERT INTO admin (name, hash, role, created) VALUES (?, ?, ?, ?)').run(name, hash ?? hashPassword(password), role, created);
    return { name, role, created };
  }

  setPassword(name: string, password: string, hash?: string): void {
    if (password.length < 8) throw new AdminError('the password must have at least 8 characters');
    const r = this.db.prepare('UPDATE admin SET hash = ? WHERE name = ?').run(hash ?? hashPassword(password), name);
    if (Number(r.changes) === 0) throw new AdminError(`no admin "${name}"`);
  }

  setRole(name: string, role: AdminRole): void {
    if (!ADMIN_ROLES.includes(role)) throw new AdminError(`role must be one of ${ADMIN_ROLES.join(', ')}`);
    const target = this.get(name);
    if (!target) throw new AdminError(`no admin "${name}"`);
    if (target.role === 'admin' && role !== 'admin' && this.list().filter((a) => a.role === 'admin').length === 1) throw new AdminError(`"${name}" is the last admin with the admin role`);
    this.db.prepare('UPDATE admin SET role = ? WHERE name = ?').run(role, name);
  }

  remove(name: string): void {
    const target = this.get(name);
    if (!target) throw new AdminError(`no admin "${name}"`);
    // Never lock everyone out: the last admin with the admin role stays.
    const admins = this.list().filter((a) => a.role === 'admin');
    if (target.role === 'admin' && admins.length === 1) throw new AdminError(`"${name}" is the last admin with the admin role`);
    this.db.prepare('DELETE FROM admin WHERE name = ?').run(name);
    this.db.prepare("UPDATE api_token SET revoked = ? WHERE owner = ? AND revoked IS NULL").run(new Date().toISOString(), name);
  }

  /** The admin when the password is right; null otherwise (the scrypt runs either way, off the event loop). */
  async verify(name: string, password: string): Promise<AdminInfo | null> {
    const row = this.db.prepare('SELECT name, hash, role, created FROM admin WHERE name = ?').get(name) as (AdminInfo & { hash: string }) | undefined;
    const ok = await verifyPasswordAsync(password, row?.hash);
    return ok && row ? { name: row.name, role: row.role, created: row.created } : null;
  }

  /** Creates a token; the secret is returned once and never stored. */
  createToken(name: string, role: AdminRole, owner: string): { token: string; info: TokenInfo } {
    if (!name || name.length > 64) throw new AdminError('a token needs a name of up to 64 characters');
    if (!ADMIN_ROLES.includes(role)) throw new AdminError(`role must be one of ${ADMIN_ROLES.join(', ')}`);
    const ownerInfo = this.get(owner);
    if (!ownerInfo) throw new AdminError(`no admin "${owner}"`);
    // A viewer cannot mint a token that may change things.
    if (ownerInfo.role === 'viewer' && role === 'admin') throw new AdminError('a viewer can only create viewer tokens');
    const id = randomBytes(6).toString('hex');
    const secret = `mwt_${id}_${randomBytes(24).toString('base64url')}`;
    const created = new Date().toISOString();
    this.db.prepare('INSERT INTO api_token (id, name, digest, role, owner, created) VALUES (?, ?, ?, ?, ?, ?)').run(id, name, sha256(secret), role, owner, created);
    return { token: secret, info: { id, name, role, owner, created, revoked: null } };
  }

  tokens(): TokenInfo[] {
    return (this.db.prepare('SELECT id, name, role, owner, created, revoked FROM api_token ORDER BY created, id').all() as unknown as TokenInfo[]).map((r) => ({ ...r }));
  }

  revokeToken(id: string): void {
    const r = this.db.prepare('UPDATE api_token SET revoked = ? WHERE id = ? AND revoked IS NULL').run(new Date().toISOString(), id);
    if (Number(r.changes) === 0) throw new AdminError(`no active token "${id}"`);
  }

  /** The token's owner and role, when the secret is a live token. */
  checkToken(secret: string): TokenInfo | null {
    const m = /^mwt_([0-9a-f]{12})_[A-Za-z0-9_-]{32}$/.exec(secret);
    if (!m) return null;
    const row = this.db.prepare('SELECT id, name, digest, role, owner, created, revoked FROM api_token WHERE id = ?').get(m[1] ?? '') as (TokenInfo & { digest: string }) | undefined;
    if (!row || row.revoked !== null) return null;
    const a = Buffer.from(row.digest, 'hex');
    const b = Buffer.from(sha256(secret), 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    // A token never has more rights than its owner has now.
    const owner = this.get(row.owner);
    if (!owner) return null;
    const role: AdminRole = owner.role === 'viewer' ? 'viewer' : row.role;
    return { id: row.id, name: row.name, role, owner: row.owner, created: row.created, revoked: null };
  }

  close(): void {
    this.db.close();
  }
}

export function openAdminStore(dataDir: string): AdminStore {
  return new AdminStore(join(dataDir, 'admin.db'));
}

/** A password for the first admin, printed once. */
export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}
