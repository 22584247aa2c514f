// Greylisting: the first attempt of an unknown (origin network, sender,
// recipient) triplet is refused for now; a retry after `delay` and before
// `expiry` is accepted and the triplet remembered for `lifetime` after its
// last message. The origin network is the /24 (IPv4) or /64 (IPv6), so that
// a sender's pool of outbound servers counts as one. The decision is pure;
// the store is the embedded SQLite database.

import type { DatabaseSync } from 'node:sqlite';
import { openSqlite } from '../store/sqlite.ts';
import { join } from 'node:path';
import { isV4 } from '../objects/ip.ts';

export interface GreylistTimes {
  delayMs: number;
  expiryMs: number;
  lifetimeMs: number;
}

export interface TripletRecord {
  first: number;
  last: number;
  passed: boolean;
}

export type GreylistVerdict = { pass: true; known: boolean } | { pass: false; retryInMs: number };

export function originNetwork(ip: bigint): string {
  if (isV4(ip)) return `v4:${(ip >> 8n).toString(16)}/24`;
  return `v6:${(ip >> 64n).toString(16)}/64`;
}

export function tripletKey(ip: bigint, sender: string, recipient: string): string {
  return `${originNetwork(ip)} ${sender.toLowerCase()} ${recipient.toLowerCase()}`;
}

/** What to answer and what to store, for an attempt at `now`. */
export function decideGreylist(rec: TripletRecord | null, now: number, t: GreylistTimes): { verdict: GreylistVerdict; store: TripletRecord } {
  if (rec && rec.passed && now - rec.last <= t.lifetimeMs) return { verdict: { pass: true, known: true }, store: { ...rec, last: now } };
  if (rec && !rec.passed && now - rec.first <= t.expiryMs) {
    if (now - rec.first >= t.delayMs) return { verdict: { pass: true, known: false }, store: { first: rec.first, last: now, passed: true } };
    return { verdict: { pass: false, retryInMs: t.delayMs - (now - rec.first) }, store: rec };
  }
  // Unknown, expired, or a pass forgotten: a first attempt.
  return { verdict: { pass: false, retryInMs: t.delayMs }, store: { first: now, last: now, passed: false } };
}

export class GreylistStore {
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec('CREATE TABLE IF NOT EXISTS greylist (triplet TEXT PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL, passed INTEGER NOT NULL)');
  }

  /** Decides for one triplet and stores the result. */
  check(key: string, now: number, t: GreylistTimes): GreylistVerdict {
    const row = this.db.prepare('SELECT first, last, passed FROM greylist WHERE triplet = ?').get(key) as { first: number; last: number; passed: number } | undefined;
    const rec = row ? { first: row.first, last: row.last, passed: row.passed === 1 } : null;
    const { verdict, store } = decideGreylist(rec, now, t);
    if (!rec || rec.first !== store.first || rec.last !== store.last || rec.passed !== store.passed) {
      this.db.prepare('INSERT INTO greylist (triplet, first, last, passed) VALUES (?, ?, ?, ?) ON CONFLICT(triplet) DO UPDATE SET first = excluded.first, last = excluded.last, passed = excluded.passed').run(key, store.first, store.last, store.passed ? 1 : 0);
    }
    return verdict;
  }

  /** Drops what can no longer matter. */
  prune(now: number, t: GreylistTimes): number {
    const r = this.db.prepare('DELETE FROM greylist WHERE (passed = 1 AND last < ?) OR (passed = 0 AND first < ?)').run(now - t.lifetimeMs, now - t.expiryMs);
    return Number(r.changes);
  }
}

/**
 * DATA/greylist.db, apart from the settings store: losing it in a crash only
 * greylists some senders again, so it is written without waiting on the disk.
 * Old triplets are pruned every hour.
 */
export function openGreylist(dataDir: string, prune: () => GreylistTimes | null = () => null): { store: GreylistStore; close(): void } {
  const db = openSqlite(join(dataDir, 'greylist.db'), false);
  const store = new GreylistStore(db);
  const timer = setInterval(() => {
    const t = prune();
    if (t) store.prune(Date.now(), t);
  }, 3_600_000);
  timer.unref();
  return {
    store,
    close() {
      clearInterval(timer);
      db.close();
    },
  };
}
