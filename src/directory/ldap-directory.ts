// One directory of the settings over LDAP: searches with the service account
// on one connection that is kept and reused (closed after a minute unused),
// a user's password checked by binding as the user on a connection of its
// own (closed at once: the password is never stored), the user's groups
// with nesting followed level by level, and the entries that carry an
// address. Everything that is not an answer throws DirectoryUnavailable.

import type { Client, Entry } from 'ldapts';
import { InvalidCredentialsError } from 'ldapts';
import type { DirectoryDef } from '../config/document.ts';
import { addressAssertion, addressesFrom } from './addresses.ts';
import { escapeFilterValue, fillFilter } from './filter.ts';
import { drop, isAlive, openConnection, unavailable } from './ldap-connection.ts';

/** A user as the directory has it, before the settings name its groups. */
export interface DirectoryUser {
  dn: string;
  /** The groups' names (cn), nested ones included, each once. */
  groups: string[];
  addresses: string[];
}

/** How a search found (or did not find) a login, for `policy explain` and the admin's test. */
export type UserMatch = { found: 'none' } | { found: 'many'; count: number } | { found: 'one'; dn: string; entry: Entry };

/** Groups followed at most this many in total, whatever the nesting (a loop or a huge tree cannot run away). */
const MAX_GROUPS = 1000;
const IDLE_MS = 60_000;

/** The group filter in use: the settings' own, or one built from group_member_attribute. */
export function effectiveGroupFilter(def: DirectoryDef): string {
  return def.group_filter ?? `(${def.group_member_attribute}={dn})`;
}

/** Values of an attribute of an entry, whatever case the server wrote its name in. */
export function attributeValues(entry: Entry, name: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key === undefined || key === 'dn') return [];
  const v = entry[key];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
}

/** A group's name: its cn, else the value of its DN's first part. */
function groupName(entry: Entry): string {
  const cn = attributeValues(entry, 'cn')[0];
  if (cn) return cn;
  const first = /^[^=]+=((?:\\.|[^,\\])*)/.exec(entry.dn)?.[1] ?? entry.dn;
  return first.replace(/\\(.)/g, '$1');
}

export class LdapDirectory {
  readonly def: DirectoryDef;
  private service: Promise<Client> | null = null;
  private idle: NodeJS.Timeout | null = null;
  private busy = 0;

  constructor(def: DirectoryDef) {
    this.def = def;
  }

  /** Runs `fn` on the service account's connection; a connection that failed is dropped, and a reused one retried once on a new one. */
  private async withService<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    this.busy++;
    if (this.idle) clearTimeout(this.idle);
    try {
      const reused = this.service !== null;
      try {
        return await fn(await this.serviceConnection());
      } catch (err) {
        if (!isConnectionTrouble(err)) throw err;
        this.dropService();
        // A kept connection the server closed while idle: one more try on a
        // new one (not after a timeout: that would double the wait).
        if (!reused || /timed? ?out/i.test((err as Error).message)) throw err;
        return await fn(await this.serviceConnection());
      }
    } catch (err) {
      if (isConnectionTrouble(err)) this.dropService();
      throw unavailable(this.def, err, 'search');
    } finally {
      this.busy--;
      if (this.busy === 0 && this.service) {
        this.idle = setTimeout(() => this.dropService(), IDLE_MS);
        this.idle.unref();
      }
    }
  }

  private async serviceConnection(): Promise<Client> {
    // A kept connection the server closed meanwhile is not reused (see `watch` in ldap-connection.ts).
    if (this.service) {
      const kept = await this.service.catch(() => null);
      if (kept && !isAlive(kept)) this.dropService();
    }
    if (!this.service) {
      const opening = (async () => {
        const c = await openConnection(this.def);
        if (this.def.bind_dn !== undefined) {
          try {
            await c.bind(this.def.bind_dn, this.def.bind_password ?? '');
          } catch (err) {
            drop(c);
            throw unavailable(this.def, err, 'service-bind');
          }
        }
        return c;
      })();
      this.service = opening;
      opening.catch(() => {
        if (this.service === opening) this.service = null;
      });
    }
    return this.service;
  }

  private dropService(): void {
    const s = this.service;
    this.service = null;
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    if (s) void s.then(drop, () => {});
  }

  /** Closes the kept connection (the settings changed, or the daemon stops). */
  close(): void {
    this.dropService();
  }

  /** The search for a login: the filter sent, and what it found (at most two entries are asked for: two means "not one"). */
  async findUser(login: string): Promise<{ filter: string; match: UserMatch }> {
    const filter = fillFilter(this.def.user_filter, { login });
    const r = await this.withService((c) => c.search(this.def.base_dn, { scope: 'sub', filter, attributes: ['cn', ...this.def.mail_attributes], sizeLimit: 2 }));
    const entries = r.searchEntries;
    if (entries.length === 0) return { filter, match: { found: 'none' } };
    if (entries.length > 1) return { filter, match: { found: 'many', count: entries.length } };
    const entry = entries[0] as Entry;
    return { filter, match: { found: 'one', dn: entry.dn, entry } };
  }

  /** Whether `password` is the password of `dn`: a bind as the entry on a connection of its own. */
  async checkPassword(dn: string, password: string): Promise<boolean> {
    // An empty password would be an unauthenticated bind, which servers answer with success.
    if (password === '') return false;
    const c = await openConnection(this.def);
    try {
      await c.bind(dn, password);
      return true;
    } catch (err) {
      if (err instanceof InvalidCredentialsError) return false;
      throw unavailable(this.def, err, 'user-bind');
    } finally {
      drop(c);
    }
  }

  /**
   * The names of the groups `dn` is in: the direct ones by the group filter,
   * then the groups those are in, up to nested_group_depth levels (one
   * search per level: the filter for every group of a level OR-ed).
   */
  async groupsOf(dn: string, login: string): Promise<{ filter: string; groups: string[] }> {
    const template = effectiveGroupFilter(this.def);
    const filter = fillFilter(template, { dn, login });
    const names = new Map<string, string>();
    const seen = new Set<string>([dn.toLowerCase()]);
    let level = [dn];
    const depth = template.includes('{dn}') ? this.def.nested_group_depth : 0;
    for (let i = 0; i <= depth && level.length > 0 && names.size < MAX_GROUPS; i++) {
      const parts = level.map((d) => fillFilter(template, { dn: d, login }));
      const f = parts.length === 1 ? (parts[0] as string) : `(|${parts.join('')})`;
      const r = await this.withService((c) => c.search(this.def.base_dn, { scope: 'sub', filter: f, attributes: ['cn'], sizeLimit: MAX_GROUPS }));
      const next: string[] = [];
      for (const g of r.searchEntries) {
        const key = g.dn.toLowerCase();
        if (seen.has(key)) continue;
        seen.add(key);
        names.set(key, groupName(g));
        next.push(g.dn);
      }
      level = next;
    }
    return { filter, groups: [...new Set(names.values())] };
  }

  /** The user's addresses from the mail attributes of the entry found. */
  addressesOf(entry: Entry): string[] {
    return addressesFrom(this.def.mail_attributes.flatMap((a) => attributeValues(entry, a)));
  }

  /** The user (groups and addresses) for an entry found. */
  async userOf(login: string, dn: string, entry: Entry): Promise<DirectoryUser> {
    const { groups } = await this.groupsOf(dn, login);
    return { dn, groups, addresses: this.addressesOf(entry) };
  }

  /** The filter that finds an address in any of the mail attributes. */
  addressFilter(address: string): string {
    const parts = this.def.mail_attributes.map((a) => `(${a}=${escapeFilterValue(addressAssertion(a, address))})`);
    return parts.length === 1 ? (parts[0] as string) : `(|${parts.join('')})`;
  }

  /** Whether some entry under base_dn has the address in a mail attribute. */
  async hasAddress(address: string): Promise<boolean> {
    if (this.def.mail_attributes.length === 0) return false;
    const filter = this.addressFilter(address);
    const r = await this.withService((c) => c.search(this.def.base_dn, { scope: 'sub', filter, attributes: ['1.1'], sizeLimit: 1 }));
    return r.searchEntries.length > 0;
  }
}

/** A failure of the connection itself (not an LDAP answer): the connection is not used again. */
function isConnectionTrouble(err: unknown): boolean {
  return !(err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number');
}
