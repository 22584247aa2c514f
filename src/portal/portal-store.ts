// The PortalStore port: what the user portal keeps (issue 21): each owner
// address's personal sender lists and the portal users' sign-in sessions.
// The single node keeps DATA/portal.db (SQLite); a cluster keeps two tables
// in PostgreSQL (migration 6), so that a list saved on one node is applied by
// every node and a sign-in is valid on each. A change of lists is announced
// to subscribers (in process; LISTEN/NOTIFY in the cluster) so that the
// checks' cache (sender-list-cache.ts) stays fresh without asking per RCPT.

import type { SenderLists } from './sender-lists.ts';

/** A portal user's session as stored: who signed in, the CSRF token, and the credential stamp at sign-in. */
export interface PortalSession {
  id: string;
  /** The login as typed at sign-in (a local user's name, or a directory login). */
  name: string;
  /** null: a local user; else the directories[] entry that vouched for the user. */
  directory: string | null;
  csrf: string;
  /** Local users: a digest of the password hash at sign-in (a new password ends the session); directory users: ''. */
  stamp: string;
  /** Epoch ms of the last request (written at most once a minute). */
  lastSeen: number;
}

export interface PortalStore {
  /** The lists stored for one owner address (addressKey form); empty lists when there are none. */
  lists(owner: string): Promise<SenderLists>;
  /** Replaces the lists of every owner named, in one transaction, and announces the change. Entries must be validated already. */
  setLists(owners: readonly string[], lists: SenderLists): Promise<void>;
  /** The owners that have at least one entry, at most `limit`. */
  owners(limit: number): Promise<string[]>;
  /**
   * Calls `fn` with the owner whose lists changed (on any node), or null when
   * changes may have been missed (a reconnect): then everything is re-read.
   */
  subscribe(fn: (owner: string | null) => void): () => void;

  /** `idleMs`: sessions idle longer than that are swept while at it. */
  createSession(s: Omit<PortalSession, 'lastSeen'>, now: number, idleMs: number): Promise<void>;
  /** The session, its lastSeen refreshed (at most once a minute); null when absent or idle past `idleMs` (then deleted). */
  touchSession(id: string, now: number, idleMs: number): Promise<PortalSession | null>;
  deleteSession(id: string): Promise<void>;

  close(): Promise<void>;
}

/** How often a session's lastSeen is written at most. */
export const TOUCH_EVERY_MS = 60_000;
