// Who an authenticated client is: the one shape the relay rules, the sender
// binding and the logs read, whether the user is local (settings `users`)
// or vouched for by a directory (`directories`). Resolved once, at AUTH, and
// pinned for the session: a later lookup never changes what a session may do.

import type { Snapshot } from '../config/snapshot.ts';

export interface Identity {
  /** The login as the client gave it (and as logs and `policy explain` name the user). */
  readonly name: string;
  /** null: a local user; otherwise the name of the directories[] entry that vouched for it. */
  readonly directory: string | null;
  readonly enabled: boolean;
  /** Group names as the settings refer to them: local groups by name, a directory's groups as `directory:group`. */
  readonly groups: readonly string[];
  /** The addresses the user may send as (users[].addresses, or the directory's mail attributes). */
  readonly addresses: readonly string[];
}

/** A local user (settings `users`) as an identity; null when there is no such user. */
export function localIdentity(snap: Snapshot, name: string): Identity | null {
  const u = snap.users.get(name);
  if (!u) return null;
  return { name: u.name, directory: null, enabled: u.enabled, groups: u.groups, addresses: u.addresses ?? [] };
}
