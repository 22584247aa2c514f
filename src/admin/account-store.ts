// The AccountStore port: admin accounts, API tokens and web-admin sessions.
// The single node keeps them in DATA/admin.db (SQLite); a cluster keeps them
// in PostgreSQL, so that a login on one node is valid on every node. Every
// method is asynchronous. Passwords are stored as scrypt hashes (src/objects/
// password.ts, hashed by the caller off the event loop); a token's secret is
// shown once and stored only as its SHA-256.

import type { AdminInfo, AdminRole, TokenInfo } from './admin-store.ts';

/** A web-admin session as stored: who, the CSRF token, and the credential stamp at login. */
export interface StoredSession {
  id: string;
  name: string;
  role: AdminRole;
  csrf: string;
  /** Epoch ms of the last request (written at most once a minute). */
  lastSeen: number;
  stamp: string;
}

export interface AccountStore {
  // Admin accounts (AdminError for a refused change: bad name, last admin, ...).
  count(): Promise<number>;
  list(): Promise<AdminInfo[]>;
  get(name: string): Promise<AdminInfo | null>;
  /** The account with a stamp of its credentials (a digest of the password hash). */
  current(name: string): Promise<(AdminInfo & { stamp: string }) | null>;
  /** `hash`: hashPassword(password) made already. */
  add(name: string, password: string, role: AdminRole, hash: string): Promise<AdminInfo>;
  setPassword(name: string, password: string, hash: string): Promise<void>;
  setRole(name: string, role: AdminRole): Promise<void>;
  /** Also revokes the admin's tokens and ends their sessions. */
  remove(name: string): Promise<void>;
  /** The admin when the password is right; null otherwise (the scrypt runs either way). */
  verify(name: string, password: string): Promise<AdminInfo | null>;

  // API tokens.
  createToken(name: string, role: AdminRole, owner: string): Promise<{ token: string; info: TokenInfo }>;
  tokens(): Promise<TokenInfo[]>;
  revokeToken(id: string): Promise<void>;
  /** The token's owner and role, when the secret is a live token (never more rights than its owner has now). */
  checkToken(secret: string): Promise<TokenInfo | null>;

  // Web-admin sessions (idle ones expire after `idleMs`).
  /** `idleMs`, when given: sessions idle longer than that may be swept while at it. */
  createSession(s: Omit<StoredSession, 'lastSeen'>, now: number, idleMs?: number): Promise<void>;
  /**
   * The session, its lastSeen refreshed; null when absent or idle past `idleMs` (then deleted).
   * lastSeen is written at most once a minute: the session returned carries the value stored.
   */
  touchSession(id: string, now: number, idleMs: number): Promise<StoredSession | null>;
  restampSession(id: string, stamp: string): Promise<void>;
  deleteSession(id: string): Promise<void>;
  /** Ends an admin's sessions, but `keep` (the caller's own). */
  dropSessions(name: string, keep: string | null): Promise<void>;

  close(): Promise<void>;
}
