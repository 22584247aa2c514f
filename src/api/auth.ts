// Who is calling the API, and may they do this: a session cookie from the
// login form (HttpOnly, Secure, SameSite=Strict, with a CSRF token that every
// change must echo in X-CSRF-Token), or an API token (Authorization: Bearer)
// for automation. Unauthenticated → 401; a viewer's change → 403. Failed
// logins are throttled per client address.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminRole } from '../admin/admin-store.ts';

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

interface Session {
  name: string;
  role: AdminRole;
  csrf: string;
  lastSeen: number;
  /** The account's credential stamp at login (AdminStore.current). */
  stamp: string;
}

export const SESSION_COOKIE = 'mw_session';
const IDLE_MS = 8 * 3_600_000;

export class Sessions {
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  create(name: string, role: AdminRole, stamp: string): { id: string; csrf: string } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    this.sweep();
    this.sessions.set(id, { name, role, csrf, lastSeen: this.now(), stamp });
    return { id, csrf };
  }

  /** Forgets sessions idle past their time (otherwise only noticed when used again). */
  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (now - s.lastSeen > IDLE_MS) this.sessions.delete(id);
  }

  get(id: string): Principal | null {
    const s = this.sessions.get(id);
    if (!s) return null;
    if (this.now() - s.lastSeen > IDLE_MS) {
      this.sessions.delete(id);
      return null;
    }
    s.lastSeen = this.now();
    return { author: `admin:${s.name}`, name: s.name, role: s.role, via: 'session', csrf: s.csrf, sessionId: id, stamp: s.stamp };
  }

  /** The caller changed its own password: its session goes on with the new stamp. */
  restamp(id: string, stamp: string): void {
    const s = this.sessions.get(id);
    if (s) s.stamp = stamp;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** An admin removed, demoted or with a new password: their sessions end (but `keep`, the caller's own). */
  dropAdmin(name: string, keep: string | null = null): void {
    for (const [id, s] of this.sessions) if (s.name === name && id !== keep) this.sessions.delete(id);
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
