// The Directories port over LDAP (ldapts): the settings' directories asked
// in order. AUTH searches the login with the service account, binds as the
// entry found with the user's password (exactly one entry must match), then
// reads its groups and addresses; the password check is never cached, the
// lookups are (who a login is, whether an address exists: the directory's
// `cache`, positive and negative) so that a slow directory does not slow
// every RCPT. A directory that does not answer makes the call throw
// (DirectoryUnavailable): the session answers 454, never "unknown user".
// Group names become `directory:cn`, spelled as the settings spell them
// (LDAP compares names without case; the relay rules compare exactly).

import { randomUUID } from 'node:crypto';
import type { DirectoryDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { durationMs } from '../core/duration.ts';
import type { Logger } from '../log/logger.ts';
import type { Identity } from '../policy/identity.ts';
import type { Directories } from './directories.ts';
import { LdapDirectory, type DirectoryUser } from './ldap-directory.ts';
import { TtlCache } from './ttl-cache.ts';

interface State {
  dir: LdapDirectory;
  /** When a snapshot that has this definition last asked (sessions pinned to an older revision still use it). */
  used: number;
  users: TtlCache<DirectoryUser | null>;
  addresses: TtlCache<boolean>;
}

/** The identity of a directory user, its groups named as the settings name them. */
export function directoryIdentity(snap: Snapshot, def: DirectoryDef, login: string, user: DirectoryUser): Identity {
  const prefix = `${def.name}:`;
  const spelled = new Map(snap.settings.relaying.authenticated_relay.groups.filter((g) => g.startsWith(prefix)).map((g) => [g.toLowerCase(), g]));
  const groups = user.groups.map((cn) => {
    const name = prefix + cn;
    return spelled.get(name.toLowerCase()) ?? name;
  });
  return { name: login, directory: def.name, enabled: true, groups, addresses: user.addresses };
}

/** A definition no snapshot asked for this long is forgotten (its connection closed, its cache dropped). */
const RETIRE_MS = 10 * 60_000;

export class LdapDirectories implements Directories {
  /** By the directory's whole definition: a changed definition is a new directory (new connection, empty cache). */
  private readonly states = new Map<string, State>();
  private readonly logger: Logger | null;
  private readonly now: () => number;

  constructor(opts: { logger?: Logger; now?: () => number } = {}) {
    this.logger = opts.logger ?? null;
    this.now = opts.now ?? Date.now;
  }

  private state(def: DirectoryDef): State {
    const key = JSON.stringify(def);
    let s = this.states.get(key);
    if (!s) {
      s = { dir: new LdapDirectory(def), used: this.now(), users: new TtlCache({ now: this.now }), addresses: new TtlCache({ now: this.now }) };
      this.states.set(key, s);
    }
    return s;
  }

  /**
   * The states of `snap`'s directories, in order. Those of definitions no
   * snapshot asked for in a while (a changed or removed directory) are
   * closed; not at once, since sessions pinned to the previous revision may
   * still ask for them and would otherwise close and reopen connections in turn.
   */
  private current(snap: Snapshot): { def: DirectoryDef; s: State }[] {
    const now = this.now();
    const defs = snap.settings.directories;
    const keep = new Set(defs.map((d) => JSON.stringify(d)));
    for (const [key, s] of this.states) {
      if (!keep.has(key) && now - s.used > RETIRE_MS) {
        s.dir.close();
        this.states.delete(key);
      }
    }
    return defs.map((def) => {
      const s = this.state(def);
      s.used = now;
      return { def, s };
    });
  }

  async authenticate(snap: Snapshot, login: string, password: string): Promise<Identity | null> {
    const dirs = this.current(snap);
    for (const { def, s } of dirs) {
      const { match } = await s.dir.findUser(login);
      if (match.found === 'none') continue;
      // The first directory that knows the login decides: a second entry
      // elsewhere never gets a guess at the same password.
      if (match.found === 'many') {
        this.logger?.log('directory.ambiguous', { directory: def.name, user: login, entries: match.count });
        return null;
      }
      if (!(await s.dir.checkPassword(match.dn, password))) return null;
      const user = await s.dir.userOf(login, match.dn, match.entry);
      s.users.set(login, user, durationMs(def.cache));
      return directoryIdentity(snap, def, login, user);
    }
    // Nobody has the login: the same work as a wrong password (a bind that
    // fails), so that timing does not tell which logins exist.
    const first = dirs[0];
    if (first) await first.s.dir.checkPassword(`cn=no-such-user-${randomUUID()},${first.def.base_dn}`, password).catch(() => false);
    return null;
  }

  async lookup(snap: Snapshot, login: string): Promise<Identity | null> {
    for (const { def, s } of this.current(snap)) {
      const user = await s.users.getOrLoad(login, durationMs(def.cache), async () => {
        const { match } = await s.dir.findUser(login);
        if (match.found !== 'one') return null;
        return s.dir.userOf(login, match.dn, match.entry);
      });
      if (user) return directoryIdentity(snap, def, login, user);
    }
    return null;
  }

  async hasAddress(snap: Snapshot, directory: string, address: string): Promise<boolean> {
    const found = this.current(snap).find((x) => x.def.name === directory);
    if (!found) throw new Error(`no directory named "${directory}" in the settings`);
    const { def, s } = found;
    return s.addresses.getOrLoad(address.toLowerCase(), durationMs(def.cache), () => s.dir.hasAddress(address));
  }

  /** Closes the kept connections (the daemon stops). */
  close(): void {
    for (const s of this.states.values()) s.dir.close();
    this.states.clear();
  }
}
