// Who a login and password are: a local user (settings `users`, the scrypt
// hash verified off the event loop) or, for a name no local user has, a
// directory user (bound as the user by the Directories port). A local user
// always wins over a directory entry of the same name: adding a directory
// never changes what an existing local login may do.

import type { Snapshot } from '../config/snapshot.ts';
import type { Directories } from '../directory/directories.ts';
import { verifyPasswordAsync } from '../objects/password.ts';
import { localIdentity, type Identity } from '../policy/identity.ts';

/** The identity on success; null for a wrong password or an unknown name. Throws when a directory did not answer. */
export async function checkCredentials(snap: Snapshot, directories: Directories | null, name: string, password: string): Promise<Identity | null> {
  const local = snap.users.get(name);
  if (local) return (await verifyPasswordAsync(password, local.password_hash)) ? localIdentity(snap, name) : null;
  // An empty password would be an anonymous bind, which LDAP servers answer with success.
  if (!directories || !password) {
    // The same work as a wrong password, so that timing does not tell which names exist.
    await verifyPasswordAsync(password, undefined);
    return null;
  }
  return directories.authenticate(snap, name, password);
}
