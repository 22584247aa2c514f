// Who is calling the API, and may they do this: a session cookie from the
// login form (HttpOnly, Secure, SameSite=Strict, with a CSRF token that every
// change must echo in X-CSRF-Token), or an API token (Authorization: Bearer)
// for automation. Unauthenticated → 401; a viewer's change → 403. Failed
// logins are throttled per client address. Sessions live in the AccountStore.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminRole } from '../admin/admin-store.ts';
import type { AccountStore } from '../admin/account-store.ts';

export interface Principal {
  /** Sessions only: the credential stamp at login; a password changed since ends the session. */
  stamp?: string;
  /** "admin:NAME" or "token:NAME (owner)": what revisions record as the author. */
  author: string;
  name: string;
  role: AdminRole;
  via: 'session' | 'token';
  /** Sessions only: the token a change must carry. */
  csrf: string | null;
  sessionId: string | null;
}

export const SESSION_COOKIE = 'mw_session';
/** A web session ends after this long without a request. */
export const IDLE_MS = 8 * 3_600_000;

/**
 * Web-admin sessions, kept in the AccountStore: a login survives a restart
 * of the daemon and, in a cluster, is valid on every node. The store writes
 * a session's last request time at most once a minute.
 */
export class Sessions {
  private readonly store: AccountStore;
  private readonly now: () => number;
  private readonly idleMs: number;

  constructor(store: AccountStore, now: () => number = Date.now, idleMs = IDLE_MS) {
    this.store = store;
    this.now = now;
    this.idleMs = idleMs;
  }

  async create(name: string, role: AdminRole, stamp: string): Promise<{ id: string; csrf: string }> {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    await this.store.createSession({ id, name, role, csrf, stamp }, this.now(), this.idleMs);
    return { id, csrf };
  }

  /** The session's principal; null when unknown or idle past its time (then it ends). */
  async get(id: string): Promise<Principal | null> {
    const s = await this.store.touchSession(id, this.now(), this.idleMs);
    if (!s) return null;
    return { author: `admin:${s.name}`, name: s.name, role: s.role, via: 'session', csrf: s.csrf, sessionId: id, stamp: s.stamp };
  }

  /** The caller changed its own password: its session goes on with the new stamp. */
  restamp(id: string, stamp: string): Promise<void> {
    return this.store.restampSession(id, stamp);
  }

  delete(id: string): Promise<void> {
    return this.store.deleteSession(id);
  }

  /** An admin removed, demoted or with a new password: their sessions end (but `keep`, the caller's own). */
  dropAdmin(name: string, keep: string | null = null): Promise<void> {
    return this.store.dropSessions(name, keep);
  }
}

export function csrfMatches(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Failed logins per client address: after `max` within `windowMs`, 429 until
 * the window passes. An attempt counts as a failure from the moment it starts
 * (so that concurrent attempts cannot all slip through before the first one
 * is judged); a success withdraws only its own count, never the failures
 * before it (a viewer's login must not reset someone's guessing of the admin
 * password).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(max = 5, windowMs = 15 * 60_000, now: () => number = Date.now) {
    this.max = max;
    this.windowMs = windowMs;
    this.now = now;
  }

  private recent(ip: string): number[] {
    const since = this.now() - this.windowMs;
    const list = (this.failures.get(ip) ?? []).filter((t) => t > since);
    if (list.length) this.failures.set(ip, list);
    else this.failures.delete(ip);
    return list;
  }

  /** Seconds until the next try is allowed, or 0. */
  blockedFor(ip: string): number {
    const list = this.recent(ip);
    if (list.length < this.max) return 0;
    return Math.max(1, Math.ceil(((list[0] ?? 0) + this.windowMs - this.now()) / 1000));
  }

  /** Counts an attempt as failed now; returns the stamp to withdraw when it succeeds. */
  begin(ip: string): number {
    const list = this.recent(ip);
    const stamp = this.now();
    list.push(stamp);
    this.failures.set(ip, list);
    if (this.failures.size > 100_000) this.failures.delete(this.failures.keys().next().value as string);
    return stamp;
  }

  /** The attempt begun at `stamp` succeeded: it no longer counts. */
  succeeded(ip: string, stamp: number): void {
    const list = this.failures.get(ip);
    if (!list) return;
    const i = list.lastIndexOf(stamp);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.failures.delete(ip);
  }
}
