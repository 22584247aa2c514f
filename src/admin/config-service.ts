// The service layer for settings: check, apply, export, history, diff,
// rollback, and the object operations (users, groups, networks). The CLI
// calls this today; the REST API and the web UI will call the same methods
// and nothing else.

import type { Settings, UserDef } from '../config/document.ts';
import { embeddedDefaults } from '../config/document.ts';
import { validate } from '../config/validate.ts';
import { carrySecrets, hashSecrets, redactSecrets } from '../config/secrets.ts';
import { diffSettings, type Change } from '../config/diff.ts';
import { findReferences, type ObjectKind } from '../config/references.ts';
import { compileSnapshot, type Snapshot } from '../config/snapshot.ts';
import type { Finding } from '../config/issues.ts';
import type { ConfigStore, RevisionInfo, RevisionMeta } from '../store/config-store.ts';

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

/** A refusal the caller can show as it is (exit status 1 on the CLI). */
export class ServiceError extends Error {
  readonly details: readonly Finding[];
  constructor(message: string, details: readonly Finding[] = []) {
    super(message);
    this.name = 'ServiceError';
    this.details = details;
  }
}

export class ConfigService {
  private readonly store: ConfigStore;
  private cached: Snapshot | null = null;

  constructor(store: ConfigStore) {
    this.store = store;
  }

  /** The active settings, or the embedded defaults on a store that has none yet. */
  settings(): Settings {
    return this.store.active()?.settings ?? embeddedDefaults();
  }

  activeRevision(): number | null {
    return this.store.active()?.number ?? null;
  }

  /** The compiled snapshot of the active revision (revision 0: embedded defaults). */
  snapshot(): Snapshot {
    const active = this.store.active();
    const number = active?.number ?? 0;
    if (this.cached?.revision !== number) this.cached = compileSnapshot(active?.settings ?? embeddedDefaults(), number);
    return this.cached;
  }

  /** Applies the embedded defaults as revision 1 on a fresh store. Returns true when it did. */
  initialise(meta: RevisionMeta): boolean {
    if (this.store.active()) return false;
    const r = this.apply(embeddedDefaults(), meta);
    if (!r.ok) throw new ServiceError('the embedded defaults do not validate', r.errors);
    return true;
  }

  check(raw: unknown): CheckResult {
    const active = this.store.active();
    const v = validate(carrySecrets(raw, active?.settings ?? null));
    const changes = diffSettings(redactSecrets(active?.settings ?? embeddedDefaults()), redactSecrets(v.settings));
    return { ok: v.errors.length === 0, errors: v.errors, warnings: v.warnings, changes };
  }

  /** Validates and, when there is no error, makes `raw` the new active revision. */
  apply(raw: unknown, meta: RevisionMeta): ApplyResult {
    const active = this.store.active();
    const v = validate(carrySecrets(raw, active?.settings ?? null));
    const base = active?.settings ?? null;
    const changes = diffSettings(redactSecrets(base ?? embeddedDefaults()), redactSecrets(v.settings));
    if (v.errors.length > 0) return { ok: false, errors: v.errors, warnings: v.warnings, changes, revision: null };
    const next = hashSecrets(v.settings);
    // Nothing changed (hashes compared too, so a new password is a change).
    if (base && JSON.stringify(base) === JSON.stringify(next)) return { ok: true, errors: [], warnings: v.warnings, changes: [], revision: null };
    const rev = this.store.apply(next, meta, active?.number ?? null);
    return { ok: true, errors: [], warnings: v.warnings, changes, revision: { number: rev.number, created: rev.created, author: rev.author, comment: rev.comment } };
  }

  export(opts: { withSecrets?: boolean; revision?: number } = {}): Settings {
    const s = opts.revision === undefined ? this.settings() : this.revision(opts.revision).settings;
    return opts.withSecrets ? s : redactSecrets(s);
  }

  history(limit?: number): RevisionInfo[] {
    return this.store.history(limit);
  }

  diff(a: number, b: number): Change[] {
    return diffSettings(redactSecrets(this.revision(a).settings), redactSecrets(this.revision(b).settings));
  }

  /** Makes the document of revision `n` active again, as a new revision. */
  rollback(n: number, meta: RevisionMeta): ApplyResult {
    return this.apply(this.revision(n).settings, { author: meta.author, comment: meta.comment || `rollback to revision ${n}` });
  }

  // --- objects ---------------------------------------------------------------

  addUser(name: string, password: string, groups: string[], meta: RevisionMeta): ApplyResult {
    const s = structuredClone(this.settings());
    if (s.users.some((u) => u.name === name)) throw new ServiceError(`user "${name}" already exists`);
    for (const g of groups) if (!s.groups.some((x) => x.name === g)) s.groups.push({ name: g });
    s.users.push({ name, password, groups, enabled: true });
    return this.mustApply(s, meta);
  }

  setPassword(name: string, password: string, meta: RevisionMeta): ApplyResult {
    return this.changeUser(name, meta, (u) => {
      delete u.password_hash;
      u.password = password;
    });
  }

  setEnabled(name: string, enabled: boolean, meta: RevisionMeta): ApplyResult {
    return this.changeUser(name, meta, (u) => {
      u.enabled = enabled;
    });
  }

  listUsers(): Omit<UserDef, 'password' | 'password_hash'>[] {
    return redactSecrets(this.settings()).users;
  }

  /** Removes an object; refused, naming every user of it, while it is referenced. */
  removeObject(kind: ObjectKind, name: string, meta: RevisionMeta): ApplyResult {
    const s = structuredClone(this.settings());
    const list = kind === 'network' ? s.networks : kind === 'user' ? s.users : s.groups;
    const i = list.findIndex((o) => o.name === name);
    if (i < 0) throw new ServiceError(`no ${kind === 'group' ? 'user group' : kind === 'network' ? 'network object' : 'user'} named "${name}"`);
    const refs = findReferences(s, kind, name);
    if (refs.length > 0) throw new ServiceError(`"${name}" is still used by ${refs.join(', ')}; remove it there first`);
    list.splice(i, 1);
    return this.mustApply(s, meta);
  }

  private changeUser(name: string, meta: RevisionMeta, change: (u: UserDef) => void): ApplyResult {
    const s = structuredClone(this.settings());
    const u = s.users.find((x) => x.name === name);
    if (!u) throw new ServiceError(`no user named "${name}"`);
    change(u);
    return this.mustApply(s, meta);
  }

  private mustApply(s: Settings, meta: RevisionMeta): ApplyResult {
    const r = this.apply(s, meta);
    if (!r.ok) throw new ServiceError('the change was refused', r.errors);
    return r;
  }

  private revision(n: number) {
    const rev = this.store.get(n);
    if (!rev) throw new ServiceError(`no revision ${n}`);
    return rev;
  }
}
