// The daemon's Directories: the LDAP client (ldapts) is loaded on the first
// call, so that a relay with no directory in its settings starts and runs
// exactly as before. A directory added later by a settings change is used
// from its first login on, without a restart.

import type { Snapshot } from '../config/snapshot.ts';
import type { Logger } from '../log/logger.ts';
import type { Identity } from '../policy/identity.ts';
import type { Directories } from './directories.ts';
import { verifyPasswordAsync } from '../objects/password.ts';
import type { LdapDirectories } from './ldap-directories.ts';

export class LazyDirectories implements Directories {
  private loaded: Promise<LdapDirectories> | null = null;
  private readonly logger: Logger | undefined;

  constructor(opts: { logger?: Logger } = {}) {
    this.logger = opts.logger;
  }

  private ldap(): Promise<LdapDirectories> {
    this.loaded ??= import('./ldap-directories.ts').then((m) => new m.LdapDirectories(this.logger ? { logger: this.logger } : {}));
    return this.loaded;
  }

  async authenticate(snap: Snapshot, login: string, password: string): Promise<Identity | null> {
    if (snap.settings.directories.length === 0) {
      // No directory: no LDAP client to load, and the same work as a wrong
      // password, so that timing does not tell which local names exist.
      await verifyPasswordAsync(password, undefined);
      return null;
    }
    return (await this.ldap()).authenticate(snap, login, password);
  }

  async lookup(snap: Snapshot, login: string): Promise<Identity | null> {
    if (snap.settings.directories.length === 0) return null;
    return (await this.ldap()).lookup(snap, login);
  }

  async hasAddress(snap: Snapshot, directory: string, address: string): Promise<boolean> {
    return (await this.ldap()).hasAddress(snap, directory, address);
  }

  /** Closes the kept LDAP connections, if the client was ever loaded. */
  async close(): Promise<void> {
    if (this.loaded) (await this.loaded).close();
  }
}
