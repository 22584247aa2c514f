// Structural difference between two settings documents, by path, for
// `config diff`, the apply preview and the audit trail. Lists of named
// objects are matched by name, so inserting a network object shows as one
// addition, not as every later entry changing. An optional text field that
// is empty is the same as one that is absent (a form that sends `comment: ""`
// changes nothing), so the CLI, the API and the web admin agree on what a
// change is.

import type { Settings } from './document.ts';

export interface Change {
  path: string;
  op: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function named(list: unknown[]): Map<string, unknown> | null {
  const m = new Map<string, unknown>();
  for (const item of list) {
    if (!isObj(item) || typeof item.name !== 'string' || m.has(item.name)) return null;
    m.set(item.name, item);
  }
  return m;
}

/** Optional text fields: "" and absent mean the same (no comment). */
const OPTIONAL_TEXT = new Set(['comment']);

/** An object's keys with the empty optional text fields left out. */
function meaningful(o: Obj): Obj {
  let out: Obj | null = null;
  for (const k of OPTIONAL_TEXT) {
    if (o[k] === '') {
      out ??= { ...o };
      delete out[k];
    }
  }
  return out ?? o;
}

/** A copy of `v` with the empty optional text fields left out at every depth (lists of unnamed entries). */
function stripped(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripped);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(meaningful(v))) out[k] = stripped(x);
  return out;
}

function join(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

export function diffSettings(before: unknown, after: unknown, path = ''): Change[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (isObj(before) && isObj(after)) {
    const [b, a] = [meaningful(before), meaningful(after)];
    const out: Change[] = [];
    for (const k of new Set([...Object.keys(b), ...Object.keys(a)])) {
      const p = join(path, k);
      if (!(k in a)) out.push({ path: p, op: 'removed', before: b[k] });
      else if (!(k in b)) out.push({ path: p, op: 'added', after: a[k] });
      else out.push(...diffSettings(b[k], a[k], p));
    }
    return out;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const a = named(before);
    const b = named(after);
    if (a && b && (a.size > 0 || b.size > 0)) {
      const out: Change[] = [];
      for (const [name, item] of a) {
        const p = `${path}[${JSON.stringify(name)}]`;
        if (!b.has(name)) out.push({ path: p, op: 'removed', before: item });
        else out.push(...diffSettings(item, b.get(name), p));
      }
      for (const [name, item] of b) if (!a.has(name)) out.push({ path: `${path}[${JSON.stringify(name)}]`, op: 'added', after: item });
      return out;
    }
  }
  // A list of unnamed entries (antispam exceptions) is compared whole, still with "" as absent.
  if (Array.isArray(before) && Array.isArray(after) && JSON.stringify(stripped(before)) === JSON.stringify(stripped(after))) return [];
  return [{ path, op: 'changed', before, after }];
}

export function formatChange(c: Change): string {
  const show = (v: unknown) => JSON.stringify(v);
  if (c.op === 'added') return `+ ${c.path}: ${show(c.after)}`;
  if (c.op === 'removed') return `- ${c.path}: ${show(c.before)}`;
  return `~ ${c.path}: ${show(c.before)} → ${show(c.after)}`;
}

/**
 * The secrets that differ between two documents, by path and never by value
 * (the diff above sees redacted documents): a user's password (in both, with
 * another hash), the smarthost password and a directory's bind password. So that a rollback preview can
 * say it brings back an old password.
 */
export function secretChanges(before: Settings, after: Settings): string[] {
  const out: string[] = [];
  const old = new Map(before.users.map((u) => [u.name, u.password_hash ?? u.password]));
  for (const u of after.users) {
    if (!old.has(u.name)) continue;
    if (old.get(u.name) !== (u.password_hash ?? u.password)) out.push(`users[${JSON.stringify(u.name)}].password`);
  }
  const [a, b] = [before.delivery.smarthost, after.delivery.smarthost];
  if (a && b && a.password !== b.password) out.push('delivery.smarthost.password');
  const binds = new Map(before.directories.map((d) => [d.name, d.bind_password]));
  for (const d of after.directories) {
    if (binds.has(d.name) && binds.get(d.name) !== d.bind_password) out.push(`directories[${JSON.stringify(d.name)}].bind_password`);
  }
  const dkimKeys = new Map(before.dkim.keys.map((k) => [`${k.selector}._domainkey.${k.domain}`, k.key]));
  for (const k of after.dkim.keys) {
    const name = `${k.selector}._domainkey.${k.domain}`;
    if (dkimKeys.has(name) && dkimKeys.get(name) !== k.key) out.push(`dkim.keys[${JSON.stringify(name)}].key`);
  }
  return out;
}
