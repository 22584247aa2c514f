// The Directories port: users and groups that live in an organisation's
// directory (LDAP, Active Directory) rather than in the settings. The SMTP
// session asks it at AUTH (bind as the user: the password is never stored),
// recipient verification asks whether an address exists, `policy explain`
// asks who a login is. A directory that does not answer makes the call
// throw (the session answers 4xx): it never reads as "no such user".

import type { Snapshot } from '../config/snapshot.ts';
import type { Identity } from '../policy/identity.ts';

export interface Directories {
  /**
   * Binds as `login` in the settings' directories, in order: the identity on
   * success; null when no directory knows the login or the password is
   * wrong. Throws when a directory that was asked did not answer.
   */
  authenticate(snap: Snapshot, login: string, password: string): Promise<Identity | null>;
  /** Who a login is, without its password (policy explain, the admin's test); null when unknown. Throws like authenticate. */
  lookup(snap: Snapshot, login: string): Promise<Identity | null>;
  /** Whether the named directory has an entry with this address among its mail attributes. Throws like authenticate. */
  hasAddress(snap: Snapshot, directory: string, address: string): Promise<boolean>;
}
