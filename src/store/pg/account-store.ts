// AccountStore in PostgreSQL: admin accounts, API tokens and web sessions
// shared by every node (a login on one node is valid on all). The rules are
// the embedded store's (src/admin/account-rules.ts). Changes that must see
// the whole table (the last admin stays an admin) run under one advisory
// lock, so that two nodes removing the last two admins at once cannot both
// succeed.

import type { AccountStore, StoredSession } from '../../admin/account-store.ts';
import { AdminError, type AdminInfo, type AdminRole, type TokenInfo } from '../../admin/admin-store.ts';
import { checkAdminName, checkKeepsAnAdmin, checkPassword, checkRole, checkTokenRequest, credentialStamp, effectiveRole, newToken, sessionIdle, sessionTouchDue, tokenId, tokenMatches } from '../../admin/account-rules.ts';
import { verifyPasswordAsync } from '../../objects/password.ts';
import type { Sql, Tx } from './connect.ts';
import type { AdminRecord, MigratableAccounts, TokenRecord } from '../migration.ts';

/** pg_advisory_xact_lock key for changes to the set of admins. */
const ADMIN_LOCK = 0x6d7761646d;

type AdminRow = AdminInfo & { hash: string };

export class PgAccountStore implements AccountStore, MigratableAccounts {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async count(): Promise<number> {
    const [r] = await this.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM admin`;
    return r?.n ?? 0;
  }

  async list(): Promise<AdminInfo[]> {
    return [...(await this.sql<AdminInfo[]>`SELECT name, role, created FROM admin ORDER BY name`)].map((r) => ({ name: r.name, role: r.role, created: r.created }));
  }

  async get(name: string): Promise<AdminInfo | null> {
    const [r] = await this.sql<AdminInfo[]>`SELECT name, role, created FROM admin WHERE name = ${name}`;
    return r ? { name: r.name, role: r.role, created: r.created } : null;
  }

  async current(name: string): Promise<(AdminInfo & { stamp: string }) | null> {
    const [r] = await this.sql<AdminRow[]>`SELECT name, role, created, hash FROM admin WHERE name = ${name}`;
    return r ? { name: r.name, role: r.role, created: r.created, stamp: credentialStamp(r.hash) } : null;
  }

  async add(name: string, password: string, role: AdminRole, hash: string): Promise<AdminInfo> {
    checkAdminName(name);
    checkRole(role);
    checkPassword(password);
    const created = new Date().toISOString();
    const rows = await this.sql`INSERT INTO admin (name, hash, role, created) VALUES (${name}, ${hash}, ${role}, ${created}) ON CONFLICT (name) DO NOTHING RETURNING name`;
    if (rows.length === 0) throw new AdminError(`admin "${name}" already exists`);
    return { name, role, created };
  }

  async setPassword(name: string, password: string, hash: string): Promise<void> {
    checkPassword(password);
    const r = await this.sql`UPDATE admin SET hash = ${hash} WHERE name = ${name}`;
    if (r.count === 0) throw new AdminError(`no admin "${name}"`);
  }

  private async lockedTarget(tx: Tx, name: string): Promise<{ target: AdminInfo; admins: number }> {
    await tx.unsafe(`SELECT pg_advisory_xact_lock(${ADMIN_LOCK})`);
    const [target] = await tx<AdminInfo[]>`SELECT name, role, created FROM admin WHERE name = ${name}`;
    if (!target) throw new AdminError(`no admin "${name}"`);
    const [c] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM admin WHERE role = 'admin'`;
    return { target, admins: c?.n ?? 0 };
  }

  async setRole(name: string, role: AdminRole): Promise<void> {
    checkRole(role);
    await this.sql.begin(async (tx) => {
      const { target, admins } = await this.lockedTarget(tx, name);
      checkKeepsAnAdmin(name, target.role, role, admins);
      await tx`UPDATE admin SET role = ${role} WHERE name = ${name}`;
    });
  }

  async remove(name: string): Promise<void> {
    await this.sql.begin(async (tx) => {
      const { target, admins } = await this.lockedTarget(tx, name);
      checkKeepsAnAdmin(name, target.role, null, admins);
      await tx`DELETE FROM admin WHERE name = ${name}`;
      await tx`UPDATE api_token SET revoked = ${new Date().toISOString()} WHERE owner = ${name} AND revoked IS NULL`;
      await tx`DELETE FROM web_session WHERE name = ${name}`;
    });
  }

  async verify(name: string, password: string): Promise<AdminInfo | null> {
    const [r] = await this.sql<AdminRow[]>`SELECT name, role, created, hash FROM admin WHERE name = ${name}`;
    const ok = await verifyPasswordAsync(password, r?.hash);
    return ok && r ? { name: r.name, role: r.role, created: r.created } : null;
  }

  async createToken(name: string, role: AdminRole, owner: string): Promise<{ token: string; info: TokenInfo }> {
    const ownerInfo = await this.get(owner);
    checkTokenRequest(name, role, ownerInfo, owner);
    const { id, secret, digest } = newToken();
    const created = new Date().toISOString();
    // The owner may have gone meanwhile: the insert checks it in the same statement.
    const rows = await this.sql`INSERT INTO api_token (id, name, digest, role, owner, created) SELECT ${id}, ${name}, ${digest}, ${role}, name, ${created} FROM admin WHERE name = ${owner} RETURNING id`;
    if (rows.length === 0) throw new AdminError(`no admin "${owner}"`);
    return { token: secret, info: { id, name, role, owner, created, revoked: null } };
  }

  async tokens(): Promise<TokenInfo[]> {
    const rows = await this.sql<TokenInfo[]>`SELECT id, name, role, owner, created, revoked FROM api_token ORDER BY created, id`;
    return rows.map((r) => ({ id: r.id, name: r.name, role: r.role, owner: r.owner, created: r.created, revoked: r.revoked }));
  }

  async revokeToken(id: string): Promise<void> {
    const r = await this.sql`UPDATE api_token SET revoked = ${new Date().toISOString()} WHERE id = ${id} AND revoked IS NULL`;
    if (r.count === 0) throw new AdminError(`no active token "${id}"`);
  }

  async checkToken(secret: string): Promise<TokenInfo | null> {
    const id = tokenId(secret);
    if (!id) return null;
    const [r] = await this.sql<(TokenInfo & { digest: string; owner_role: AdminRole | null })[]>`
      SELECT t.id, t.name, t.digest, t.role, t.owner, t.created, t.revoked, a.role AS owner_role
      FROM api_token t LEFT JOIN admin a ON a.name = t.owner WHERE t.id = ${id}`;
    if (!r || r.revoked !== null || !tokenMatches(secret, r.digest) || !r.owner_role) return null;
    return { id: r.id, name: r.name, role: effectiveRole(r.role, r.owner_role), owner: r.owner, created: r.created, revoked: null };
  }

  async createSession(s: Omit<StoredSession, 'lastSeen'>, now: number): Promise<void> {
    await this.sql`INSERT INTO web_session (id, name, role, csrf, last_seen, stamp) VALUES (${s.id}, ${s.name}, ${s.role}, ${s.csrf}, ${now}, ${s.stamp})`;
  }

  async touchSession(id: string, now: number, idleMs: number): Promise<StoredSession | null> {
    const [r] = await this.sql<{ id: string; name: string; role: AdminRole; csrf: string; last_seen: string; stamp: string }[]>`SELECT id, name, role, csrf, last_seen, stamp FROM web_session WHERE id = ${id}`;
    if (!r) return null;
    const lastSeen = Number(r.last_seen);
    if (sessionIdle(lastSeen, now, idleMs)) {
      await this.sql`DELETE FROM web_session WHERE id = ${id} AND last_seen = ${lastSeen}`;
      return null;
    }
    let seen = lastSeen;
    if (sessionTouchDue(lastSeen, now)) {
      await this.sql`UPDATE web_session SET last_seen = greatest(last_seen, ${now}::bigint) WHERE id = ${id}`;
      seen = now;
    }
    return { id: r.id, name: r.name, role: r.role, csrf: r.csrf, lastSeen: seen, stamp: r.stamp };
  }

  async restampSession(id: string, stamp: string): Promise<void> {
    await this.sql`UPDATE web_session SET stamp = ${stamp} WHERE id = ${id}`;
  }

  async deleteSession(id: string): Promise<void> {
    await this.sql`DELETE FROM web_session WHERE id = ${id}`;
  }

  async dropSessions(name: string, keep: string | null): Promise<void> {
    if (keep === null) await this.sql`DELETE FROM web_session WHERE name = ${name}`;
    else await this.sql`DELETE FROM web_session WHERE name = ${name} AND id <> ${keep}`;
  }

  async exportAdmins(): Promise<AdminRecord[]> {
    const rows = await this.sql<AdminRecord[]>`SELECT name, role, created, hash FROM admin ORDER BY name`;
    return rows.map((r) => ({ name: r.name, role: r.role, created: r.created, hash: r.hash }));
  }

  async importAdmin(a: AdminRecord): Promise<boolean> {
    const rows = await this.sql`INSERT INTO admin (name, hash, role, created) VALUES (${a.name}, ${a.hash}, ${a.role}, ${a.created}) ON CONFLICT DO NOTHING RETURNING name`;
    return rows.length > 0;
  }

  async exportTokens(): Promise<TokenRecord[]> {
    const rows = await this.sql<TokenRecord[]>`SELECT id, name, digest, role, owner, created, revoked FROM api_token ORDER BY created, id`;
    return rows.map((r) => ({ id: r.id, name: r.name, digest: r.digest, role: r.role, owner: r.owner, created: r.created, revoked: r.revoked }));
  }

  async importToken(t: TokenRecord): Promise<boolean> {
    const rows = await this.sql`
      INSERT INTO api_token (id, name, digest, role, owner, created, revoked)
      VALUES (${t.id}, ${t.name}, ${t.digest}, ${t.role}, ${t.owner}, ${t.created}, ${t.revoked})
      ON CONFLICT DO NOTHING RETURNING id`;
    return rows.length > 0;
  }

  async close(): Promise<void> {}
}
