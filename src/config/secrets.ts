// Secrets in the settings document: user password hashes, the smarthost
// password, the directories' bind passwords and inline DKIM keys. They are hashed on the way in, left out of exports unless asked
// for, and carried over from the active revision when a document comes back
// without them (so export → edit → import does not wipe every password).

import type { Settings } from './document.ts';
import { hashPassword, verifyPassword } from '../objects/password.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * On the raw document, before validation: a user given with no password and
 * no hash keeps the hash of the same user in `previous`; a smarthost given
 * without a password keeps the password it had for the same host and user.
 */
export function carrySecrets(raw: unknown, previous: Settings | null): unknown {
  if (!previous || !isObj(raw)) return raw;
  const out: Obj = { ...raw };
  if (Array.isArray(raw.users)) {
    const hashes = new Map(previous.users.filter((u) => u.password_hash).map((u) => [u.name, u.password_hash]));
    out.users = raw.users.map((u: unknown) => {
      if (!isObj(u) || u.password != null || u.password_hash != null || typeof u.name !== 'string') return u;
      const hash = hashes.get(u.name);
      return hash ? { ...u, password_hash: hash } : u;
    });
  }
  const prevSh = previous.delivery.smarthost;
  if (isObj(raw.delivery) && isObj(raw.delivery.smarthost) && prevSh?.password !== undefined) {
    const sh = raw.delivery.smarthost;
    if (sh.password == null && sh.host === prevSh.host && sh.username === prevSh.username) {
      out.delivery = { ...raw.delivery, smarthost: { ...sh, password: prevSh.password } };
    }
  }
  if (Array.isArray(raw.directories)) {
    // Kept only for the same account on the same server: a changed url or
    // bind_dn must come with its password, so that an edit cannot send the
    // stored password to another server.
    const prev = new Map(previous.directories.filter((d) => d.bind_password !== undefined).map((d) => [d.name, d]));
    out.directories = raw.directories.map((d: unknown) => {
      if (!isObj(d) || (d.bind_password != null && d.bind_password !== '') || typeof d.name !== 'string') return d;
      const was = prev.get(d.name);
      return was && d.url === was.url && d.bind_dn === was.bind_dn ? { ...d, bind_password: was.bind_password } : d;
    });
  }
  if (isObj(raw.dkim) && Array.isArray(raw.dkim.keys)) {
    // A DKIM key given without its secret keeps the one of the same domain and selector (and no key_file in its place).
    const prev = new Map(previous.dkim.keys.filter((k) => k.key !== undefined).map((k) => [`${k.selector}._domainkey.${k.domain}`.toLowerCase(), k.key]));
    out.dkim = {
      ...raw.dkim,
      keys: raw.dkim.keys.map((k: unknown) => {
        if (!isObj(k) || (k.key != null && k.key !== '') || k.key_file != null || typeof k.domain !== 'string' || typeof k.selector !== 'string') return k;
        const was = prev.get(`${k.selector}._domainkey.${k.domain}`.toLowerCase());
        return was !== undefined ? { ...k, key: was } : k;
      }),
    };
  }
  return out;
}

/**
 * Replaces clear-text user passwords by scrypt hashes. A password that the
 * same user's hash in `previous` already verifies keeps that hash: importing
 * the same file again is no password change (a new salt would be one, and
 * would sign the user's portal sessions out).
 */
export function hashSecrets(s: Settings, previous: Settings | null = null): Settings {
  const was = new Map((previous?.users ?? []).filter((u) => u.password_hash).map((u) => [u.name, u.password_hash as string]));
  return {
    ...s,
    users: s.users.map((u) => {
      if (u.password === undefined) return u;
      const { password, ...rest } = u;
      const hash = was.get(u.name);
      return { ...rest, password_hash: hash !== undefined && verifyPassword(password, hash) ? hash : hashPassword(password) };
    }),
  };
}

/** A copy without password hashes, the smarthost password, the directories' bind passwords and inline DKIM keys. */
export function redactSecrets(s: Settings): Settings {
  const sh = s.delivery.smarthost;
  return {
    ...s,
    users: s.users.map(({ password_hash: _h, password: _p, ...rest }) => rest),
    delivery: { ...s.delivery, smarthost: sh ? (({ password: _p, ...rest }) => rest)(sh) : null },
    directories: s.directories.map(({ bind_password: _b, ...rest }) => rest),
    dkim: { ...s.dkim, keys: s.dkim.keys.map(({ key: _k, ...rest }) => rest) },
  };
}
