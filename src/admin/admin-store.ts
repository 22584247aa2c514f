// Admin accounts and API tokens for the web admin and the REST API: the
// types and the rules every AccountStore adapter (src/admin/account-store.ts)
// shares. They live apart from the SMTP users of the settings document: an
// admin is not a mail user, and the settings document can be exported and
// shared without them. Passwords are scrypt hashes; a token is shown once
// when created and stored only as its SHA-256.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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

/** Refuses an admin name, role or password every store refuses (AdminError). */
export function checkAdminName(name: string): void {
  if (!NAME.test(name)) throw new AdminError(`"${name}" is not a valid admin name (letters, digits, . _ @ -; up to 64)`);
}

export function checkRole(role: string): void {
  if (!(ADMIN_ROLES as readonly string[]).includes(role)) throw new AdminError(`role must be one of ${ADMIN_ROLES.join(', ')}`);
}

export function checkPassword(password: string): void {
  if (password.length < 8) throw new AdminError('the password must have at least 8 characters');
}

export function checkTokenName(name: string): void {
  if (!name || name.length > 64) throw new AdminError('a token needs a name of up to 64 characters');
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The stamp of an account's credentials: a digest of its password hash (a session made before a password change carries the old one and ends). */
export function credentialStamp(hash: string): string {
  return sha256(hash).slice(0, 32);
}

/** A new token: its id and the secret shown once (mwt_<id>_<random>). */
export function newToken(): { id: string; secret: string } {
  const id = randomBytes(6).toString('hex');
  return { id, secret: `mwt_${id}_${randomBytes(24).toString('base64url')}` };
}

/** The id in a token's secret, or null when it does not look like one. */
export function tokenIdOf(secret: string): string | null {
  const m = /^mwt_([0-9a-f]{12})_[A-Za-z0-9_-]{32}$/.exec(secret);
  return m?.[1] ?? null;
}

/** Whether `secret` is the token stored as `digest` (constant time). */
export function tokenMatches(digest: string, secret: string): boolean {
  const a = Buffer.from(digest, 'hex');
  const b = Buffer.from(sha256(secret), 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A password for the first admin, printed once. */
export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}
