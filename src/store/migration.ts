// What `mailwarden store migrate` needs from the stores beyond their ports:
// everything read out and written back as it is (revision numbers, authors,
// times and the active pointer; password hashes; token digests and revoked
// state; greylisting records), which the ports on purpose never allow (apply
// numbers a revision itself, add() hashes a new password, createToken() makes
// a new secret). A narrow interface of its own, implemented beside the ports
// by the SQLite and the PostgreSQL adapters; nothing else should call it.
// Every import is idempotent (what is there already is kept and skipped), so
// that a migration interrupted anywhere can be run again. Web sessions do not
// move: an administrator logs in again on the cluster.

import type { AdminRole } from '../admin/admin-store.ts';
import type { TripletRecord } from '../antispam/greylist.ts';
import type { Revision } from './config-store.ts';

export interface MigratableConfig {
  /** Every revision, oldest first, with its number, author, comment, creation time and settings. */
  exportRevisions(): AsyncIterable<Revision>;
  /** Stores a revision under its own number; false when that number is taken already (kept as it is). */
  importRevision(rev: Revision): Promise<boolean>;
  /** Makes an imported revision the active one (subscribers are told as after an apply). */
  importActive(number: number): Promise<void>;
}

/** An admin account as stored: the scrypt hash, never a password. */
export interface AdminRecord {
  name: string;
  role: AdminRole;
  created: string;
  hash: string;
}

/** An API token as stored: the SHA-256 of its secret, never the secret. */
export interface TokenRecord {
  id: string;
  name: string;
  digest: string;
  role: AdminRole;
  owner: string;
  created: string;
  /** ISO time it was revoked, or null while live. */
  revoked: string | null;
}

export interface MigratableAccounts {
  exportAdmins(): Promise<AdminRecord[]>;
  /** False when an admin of that name exists already (kept as it is). */
  importAdmin(a: AdminRecord): Promise<boolean>;
  /** Oldest first. */
  exportTokens(): Promise<TokenRecord[]>;
  /** False when a token with that id (or digest) exists already (kept as it is). */
  importToken(t: TokenRecord): Promise<boolean>;
}

export interface GreylistRecord extends TripletRecord {
  /** tripletKey(). */
  triplet: string;
}

export interface MigratableGreylist {
  /** Every record, in batches of at most `batch`. */
  exportRecords(batch?: number): AsyncIterable<GreylistRecord[]>;
  /** Stores records whose triplet is unknown here (a known one is kept); returns how many were new. */
  importRecords(records: readonly GreylistRecord[]): Promise<number>;
}

/**
 * Where the target of a migration records that one is under way, and from
 * which source: a re-run from that source may complete a partly filled
 * store; anything else finds the store not empty and is refused.
 */
export interface MigrationMarker {
  /** The source of the migration under way, or null. */
  migrationSource(): Promise<string | null>;
  /** Records `source` unless a migration is recorded already; returns the source recorded after the call. */
  markMigration(source: string): Promise<string>;
  /** Clears the record of the migration from `source` (the migration is complete). */
  clearMigration(source: string): Promise<void>;
}

const has = (x: unknown, ...names: string[]): boolean =>
  typeof x === 'object' && x !== null && names.every((n) => typeof (x as Record<string, unknown>)[n] === 'function');

export function isMigratableConfig(x: unknown): x is MigratableConfig {
  return has(x, 'exportRevisions', 'importRevision', 'importActive');
}

export function isMigratableAccounts(x: unknown): x is MigratableAccounts {
  return has(x, 'exportAdmins', 'importAdmin', 'exportTokens', 'importToken');
}

export function isMigratableGreylist(x: unknown): x is MigratableGreylist {
  return has(x, 'exportRecords', 'importRecords');
}

export function isMigrationMarker(x: unknown): x is MigrationMarker {
  return has(x, 'migrationSource', 'markMigration', 'clearMigration');
}
