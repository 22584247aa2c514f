// Admin accounts and API tokens for the web admin and the REST API: the
// types every AccountStore adapter (src/admin/account-store.ts) shares (the
// rules are in account-rules.ts). They live apart from the SMTP users of the settings document: an
// admin is not a mail user, and the settings document can be exported and
// shared without them. Passwords are scrypt hashes; a token is shown once
// when created and stored only as its SHA-256.

import { randomBytes } from 'node:crypto';

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

/** A password for the first admin, printed once. */
export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}
