// The rules every AccountStore adapter applies, pure, so that the embedded
// and the cluster store cannot disagree: what a valid admin name, role and
// password are, the credential stamp, the token secret's form and digest, a
// token's effective role (never above its owner's), the last-admin guard, and
// when a session is idle or due for a lastSeen write.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ADMIN_ROLES, AdminError, type AdminRole } from './admin-store.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const TOKEN = /^mwt_([0-9a-f]{12})_[A-Za-z0-9_-]{32}$/;

/** A session's lastSeen is written at most this often. */
export const SESSION_TOUCH_MS = 60_000;

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The credential stamp of a password hash: a session made before a password change carries the old one. */
export function credentialStamp(hash: string): string {
  return sha256(hash).slice(0, 32);
}

export function checkAdminName(name: string): void {
  if (!NAME.test(name)) throw new AdminError(`"${name}" is not a valid admin name (letters, digits, . _ @ -; up to 64)`);
}

export function checkRole(role: string): asserts role is AdminRole {
  if (!ADMIN_ROLES.includes(role as AdminRole)) throw new AdminError(`role must be one of ${ADMIN_ROLES.join(', ')}`);
}

export function checkPassword(password: string): void {
  if (password.length < 8) throw new AdminError('the password must have at least 8 characters');
}

/** Never lock everyone out: refuses taking the admin role from the last admin holding it. */
export function checkKeepsAnAdmin(name: string, targetRole: AdminRole, newRole: AdminRole | null, adminCount: number): void {
  if (targetRole === 'admin' && newRole !== 'admin' && adminCount <= 1) throw new AdminError(`"${name}" is the last admin with the admin role`);
}

export function checkTokenRequest(name: string, role: string, owner: { role: AdminRole } | null, ownerName: string): asserts role is AdminRole {
  if (!name || name.length > 64) throw new AdminError('a token needs a name of up to 64 characters');
  checkRole(role);
  if (!owner) throw new AdminError(`no admin "${ownerName}"`);
  // A viewer cannot mint a token that may change things.
  if (owner.role === 'viewer' && role === 'admin') throw new AdminError('a viewer can only create viewer tokens');
}

/** A new token: its id, the secret shown once, and the digest stored. */
export function newToken(): { id: string; secret: string; digest: string } {
  const id = randomBytes(6).toString('hex');
  const secret = `mwt_${id}_${randomBytes(24).toString('base64url')}`;
  return { id, secret, digest: sha256(secret) };
}

/** The token id a secret names, or null when it is not of the token form. */
export function tokenId(secret: string): string | null {
  return TOKEN.exec(secret)?.[1] ?? null;
}

/** Whether a secret matches a stored digest (constant time). */
export function tokenMatches(secret: string, digest: string): boolean {
  const a = Buffer.from(digest, 'hex');
  const b = Buffer.from(sha256(secret), 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A token never has more rights than its owner has now. */
export function effectiveRole(tokenRole: AdminRole, ownerRole: AdminRole): AdminRole {
  return ownerRole === 'viewer' ? 'viewer' : tokenRole;
}

export function sessionIdle(lastSeen: number, now: number, idleMs: number): boolean {
  return now - lastSeen > idleMs;
}

export function sessionTouchDue(lastSeen: number, now: number): boolean {
  return now - lastSeen >= SESSION_TOUCH_MS;
}
