// The service layer for settings: check, apply, export, history, diff,
// rollback, and the object operations (users, groups, networks, domains).
// The CLI and the REST API (and so the web UI) call these methods and nothing
// else, so that a change means the same wherever it is made. Every change is
// made against the active revision it was read from and committed only if
// that revision is still active (ConcurrentApplyError otherwise: 409 on the
// API). The expensive half (validation, hashing, diff) runs in the Checker:
// inline for the CLI, a worker thread for the daemon. The store is
// asynchronous (SQLite on one node, PostgreSQL in a cluster); `onApplied`
// lets the caller put a revision in force before the change is answered
// (the daemon's snapshot cache; the CLI tells a running daemon).

import type { DomainDef, GroupDef, NetworkDef, Settings, UserDef } from '../config/document.ts';
import { embeddedDefaults } from '../config/document.ts';
import { redactSecrets } from '../config/secrets.ts';
import type { Change } from '../config/diff.ts';
import { findReferences, type ObjectKind } from '../config/references.ts';
import { compileSnapshot, type Snapshot } from '../config/snapshot.ts';
import type { Finding } from '../config/issues.ts';
import { ConcurrentApplyError, type ConfigStore, type Revision, type RevisionInfo, type RevisionMeta } from '../store/config-store.ts';
import { inlineChecker, type BodyCheck, type Checker, type CheckView } from './checker.ts';
import { prepare, type PasswordRule, type Prepared } from './prepare.ts';

export interface CheckResult {
  ok: boolean;
  errors: Finding[];
  warnings: Finding[];
  /** Against the active revision (secrets left out). */
  changes: Change[];
}

export interface ApplyResult extends CheckResult {
  /** The new active revision; null when refused or when nothing changed. */
  revision: RevisionInfo | null;
}

/** A refusal the caller can show as it is (exit status 1 on the CLI; 404 "no …", 409 "… already exists", else 422 on the API). */
export class ServiceError extends Error {
  readonly details: readonly Finding[];
  constructor(message: string, details: readonly Finding[] = []) {
    super(message);
    this.name = 'ServiceError';
    this.details = details;
  }
}

/** The lists of named objects in the document. */
export type ObjectList = 'networks' | 'users' | 'groups' | 'domains';
const KIND: Record<ObjectList, ObjectKind | null> = { networks: 'network', users: 'user', groups: 'group', domains: null };
const LABEL: Record<ObjectList, string> = { networks: 'network object', users: 'user', groups: 'user group', domains: 'domain' };

export interface NewUser {
  name: string;
  password: string;
  groups?: string[];
  enabled?: boolean;
  /** relaying.sender_login: the addresses the user may send as. */
  addresses?: string[];
  comment?: string;
}

export interface UserChange {
  password?: string;
  groups?: string[];
  enabled?: boolean;
  /** Replaces the user's addresses; [] removes them. */
  addresses?: string[];
  comment?: string;
}

export interface ChangeOptions {
  /** The revision the caller read before making its change: another one active → ConcurrentApplyError. */
  revision?: number | undefined;
}

/** The list an object lives in and its index there; ServiceError (404) when there is none of that name. */
function existing(s: Settings, list: ObjectList, name: string): { items: { name: string }[]; i: number } {
  const items = s[list] as { name: string }[];
  const i = items.findIndex((o) => o.name === name);
  if (i < 0) throw new ServiceError(`no ${LABEL[list]} named "${name}"`);
  return { items, i };
}

export interface ServiceOptions {
  /** Called with every revision this service made active, awaited before the change is answered. */
  onApplied?: (rev: Revision) => unknown;
}

export class ConfigService {
  private readonly store: ConfigStore;
  private readonly checker: Checker;
  private readonly opts: ServiceOptions;
  private cached: Snapshot | null = null;
  /** The active revision as last read (the store parses its JSON on every read). */
  private activeCache: Revision | null = null;

  constructor(store: ConfigStore, checker: Checker = inlineChecker, opts: ServiceOptions = {}) {
    this.store = store;
    this.checker = checker;
    this.opts = opts;
  }

  /** The same settings with the expensive work done by `checker` (the daemon's API: a worker thread). */
  withChecker(checker: Checker): ConfigService {
    return new ConfigService(this.store, checker, this.opts);
  }

  private async active(): Promise<Revision | null> {
    const n = await this.store.activeNumber();
    if (n === null) return null;
    if (this.activeCache?.number !== n) this.activeCache = await this.store.active();
    return this.activeCache;
  }

  /** The active settings, or the embedded defaults on a store that has none yet. Do not change what it returns. */
  async settings(): Promise<Settings> {
    return (await this.active())?.settings ?? embeddedDefaults();
  }

  activeRevision(): Promise<number | null> {
    return this.store.activeNumber();
  }

  /** The compiled snapshot of the active revision (revision 0: embedded defaults). */
  async snapshot(): Promise<Snapshot> {
    return this.compiled(await this.active());
  }

  private compiled(active: Revision | null): Snapshot {
    const number = active?.number ?? 0;
    if (this.cached?.revision !== number) this.cached = compileSnapshot(active?.settings ?? embeddedDefaults(), number);
    return this.cached;
  }

  /**
   * For the impact preview (src/preview/): a whole document, or the active
   * one with one top-level section replaced (as applySection), checked as
   * check() checks it, with the active snapshot it was checked against and,
   * when it is valid, the candidate compiled (as revision active + 1).
   * Changes nothing.
   */
  async candidate(change: { document: unknown } | { section: string; value: unknown }, opts: ChangeOptions = {}): Promise<{ check: CheckResult; active: Snapshot; candidate: Snapshot | null }> {
    const active = await this.active();
    const number = active?.number ?? null;
    if (opts.revision !== undefined && opts.revision !== (number ?? 0)) throw stale(opts.revision, number);
    const raw = 'document' in change ? change.document : { ...structuredClone(active?.settings ?? embeddedDefaults()), [change.section]: change.value };
    const p = await this.checker.prepare(raw, { revision: number, settings: active?.settings ?? null }, 'refuse');
    const check = { ok: p.ok, errors: p.errors, warnings: p.warnings, changes: p.changes };
    return { check, active: this.compiled(active), candidate: p.ok && p.next ? compileSnapshot(p.next, (number ?? 0) + 1) : null };
  }

  /** Applies the embedded defaults as revision 1 on a fresh store. Returns true when it did. */
  async initialise(meta: RevisionMeta): Promise<boolean> {
    if (await this.store.active()) return false;
    const r = await this.apply(embeddedDefaults(), meta);
    if (!r.ok) throw new ServiceError('the embedded defaults do not validate', r.errors);
    return true;
  }

  /**
   * The daemon's own apply at start (`start --config`), in its process and
   * before it serves: a short clear-text password is only a warning here (see
   * PasswordRule). Everything an administrator does goes through applyChange.
   */
  async apply(raw: unknown, meta: RevisionMeta): Promise<ApplyResult> {
    const active = await this.active();
    return this.commit(prepare(raw, active?.settings ?? null, 'warn'), meta, active?.number ?? null);
  }

  /** Validates `raw` and shows what would change; changes nothing. */
  async check(raw: unknown, rule: PasswordRule = 'refuse'): Promise<CheckResult> {
    const active = await this.active();
    const p = await this.checker.prepare(raw, { revision: active?.number ?? null, settings: active?.settings ?? null }, rule);
    return { ok: p.ok, errors: p.errors, warnings: p.warnings, changes: p.changes };
  }

  /** check() of a request body still in its JSON text, `{document, comment?, revision?}`, answered as JSON text (CheckView: all of it, or only {ok, changes}). */
  async checkBodyText(text: string, view: CheckView): Promise<BodyCheck> {
    const active = await this.active();
    return this.checker.checkBodyText(text, { revision: active?.number ?? null, settings: active?.settings ?? null }, view);
  }

  /** Validates and, when there is no error, makes `raw` the new active revision. */
  async applyDocument(raw: unknown, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    return this.change(() => raw, meta, opts);
  }

  /** Replaces one top-level section (relaying, limits, …) of the active document. */
  async applySection(section: string, value: unknown, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    return this.change((s) => ({ ...s, [section]: value }), meta, opts);
  }

  /**
   * The one way a change is made: `edit` builds the new document from (a copy
   * of) the active one, which is then validated off the caller's thread and
   * committed only if the active revision is still the one it was built from.
   */
  private async change(edit: (current: Settings) => unknown, meta: RevisionMeta, opts: ChangeOptions): Promise<ApplyResult> {
    const active = await this.active();
    const number = active?.number ?? null;
    if (opts.revision !== undefined && opts.revision !== (number ?? 0)) throw stale(opts.revision, number);
    const raw = edit(structuredClone(active?.settings ?? embeddedDefaults()));
    const p = await this.checker.prepare(raw, { revision: number, settings: active?.settings ?? null }, 'refuse');
    return this.commit(p, meta, number);
  }

  private async commit(p: Prepared, meta: RevisionMeta, base: number | null): Promise<ApplyResult> {
    if (!p.ok || !p.next) return { ok: false, errors: p.errors, warnings: p.warnings, changes: p.changes, revision: null };
    if (p.unchanged) {
      // Nothing to store; but a change made against a revision no longer active is still a conflict.
      const now = await this.store.activeNumber();
      if (now !== base) throw stale(base, now);
      return { ok: true, errors: [], warnings: p.warnings, changes: [], revision: null };
    }
    let rev: Revision;
    try {
      rev = await this.store.apply(p.next, meta, base);
    } catch (err) {
      if (err instanceof ConcurrentApplyError) throw stale(base, await this.store.activeNumber());
      throw err;
    }
    this.activeCache = rev;
    await this.opts.onApplied?.(rev);
    return { ok: true, errors: [], warnings: p.warnings, changes: p.changes, revision: { number: rev.number, created: rev.created, author: rev.author, comment: rev.comment } };
  }

  async export(opts: { withSecrets?: boolean; revision?: number } = {}): Promise<Settings> {
    const s = opts.revision === undefined ? await this.settings() : (await this.revision(opts.revision)).settings;
    return opts.withSecrets ? s : redactSecrets(s);
  }

  history(limit?: number): Promise<RevisionInfo[]> {
    return this.store.history(limit);
  }

  async diff(a: number, b: number): Promise<Change[]> {
    const [ra, rb] = [await this.revision(a), await this.revision(b)];
    return this.checker.diff(ra.settings, rb.settings);
  }

  /** Makes the document of revision `n` active again, as a new revision. */
  async rollback(n: number, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    const doc = (await this.revision(n)).settings;
    return this.change(() => doc, { author: meta.author, comment: meta.comment || `rollback to revision ${n}` }, opts);
  }

  // --- objects ---------------------------------------------------------------

  /**
   * Adds an SMTP user. Groups it names that do not exist yet are created
   * (`user add alice --group staff` does what it says, on the CLI and the API alike).
   */
  async addUser(u: NewUser, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    return this.change(
      (s) => {
        if (s.users.some((x) => x.name === u.name)) throw new ServiceError(`user "${u.name}" already exists`);
        const groups = u.groups ?? [];
        createGroups(s, groups);
        const user: UserDef = { name: u.name, password: u.password, groups, enabled: u.enabled ?? true };
        if (u.addresses !== undefined && u.addresses.length > 0) user.addresses = [...u.addresses];
        if (u.comment !== undefined) user.comment = u.comment;
        s.users.push(user);
        return s;
      },
      meta,
      opts,
    );
  }

  /** Changes what is given of a user; a new password replaces the hash; missing groups are created as addUser does. */
  async updateUser(name: string, c: UserChange, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    return this.change(
      (s) => {
        const u = s.users.find((x) => x.name === name);
        if (!u) throw new ServiceError(`no user named "${name}"`);
        if (c.password !== undefined) {
          delete u.password_hash;
          u.password = c.password;
        }
        if (c.groups !== undefined) {
          createGroups(s, c.groups);
          u.groups = [...c.groups];
        }
        if (c.enabled !== undefined) u.enabled = c.enabled;
        if (c.addresses !== undefined) {
          if (c.addresses.length > 0) u.addresses = [...c.addresses];
          else delete u.addresses;
        }
        if (c.comment !== undefined) u.comment = c.comment;
        return s;
      },
      meta,
      opts,
    );
  }

  setPassword(name: string, password: string, meta: RevisionMeta): Promise<ApplyResult> {
    return this.updateUser(name, { password }, meta);
  }

  setEnabled(name: string, enabled: boolean, meta: RevisionMeta): Promise<ApplyResult> {
    return this.updateUser(name, { enabled }, meta);
  }

  async listUsers(): Promise<Omit<UserDef, 'password' | 'password_hash'>[]> {
    return redactSecrets(await this.settings()).users;
  }

  /** Adds a network object, user group or domain (users: addUser). */
  async addObject(list: Exclude<ObjectList, 'users'>, obj: NetworkDef | GroupDef | DomainDef, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    return this.change(
      (s) => {
        const items = s[list] as { name: string }[];
        if (items.some((o) => o.name === obj.name)) throw new ServiceError(`${LABEL[list]} "${obj.name}" already exists`);
        items.push(obj);
        return s;
      },
      meta,
      opts,
    );
  }

  /** Replaces a network object, user group or domain by `obj` (same name). */
  async replaceObject(list: Exclude<ObjectList, 'users'>, name: string, obj: NetworkDef | GroupDef | DomainDef, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    return this.change(
      (s) => {
        const { items, i } = existing(s, list, name);
        if (obj.name !== name) throw new ServiceError(`the name given ("${obj.name}") must be the one changed ("${name}"); renaming is remove and add`);
        items[i] = obj;
        return s;
      },
      meta,
      opts,
    );
  }

  /** Removes an object; refused, naming every user of it, while it is referenced. */
  async removeObject(list: ObjectList, name: string, meta: RevisionMeta, opts: ChangeOptions = {}): Promise<ApplyResult> {
    return this.change(
      (s) => {
        const { items, i } = existing(s, list, name);
        const kind = KIND[list];
        const refs = kind ? findReferences(s, kind, name) : [];
        if (refs.length > 0) throw new ServiceError(`"${name}" is still used by ${refs.join(', ')}; remove it there first`);
        items.splice(i, 1);
        return s;
      },
      meta,
      opts,
    );
  }

  private async revision(n: number): Promise<Revision> {
    const rev = await this.store.get(n);
    if (!rev) throw new ServiceError(`no revision ${n}`);
    return rev;
  }
}

/** Another change landed after the caller read the settings (409 on the API). */
function stale(read: number | null, now: number | null): ConcurrentApplyError {
  const err = new ConcurrentApplyError(read, now);
  err.message = `the settings changed since revision ${read ?? 0} (now ${now ?? 0}): reload and apply again`;
  return err;
}

function createGroups(s: Settings, groups: readonly string[]): void {
  for (const g of groups) if (!s.groups.some((x) => x.name === g)) s.groups.push({ name: g });
}
