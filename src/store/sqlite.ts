// Opens an embedded SQLite database (node:sqlite) the way every store of the
// data directory wants it: WAL, a busy timeout for the CLI beside a running
// daemon, and a durability the caller chooses (FULL for what must survive a
// crash once written; OFF for what may be lost, like greylisting triplets).

import { DatabaseSync } from 'node:sqlite';

export function openSqlite(file: string, durable: boolean): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${durable ? 'FULL' : 'OFF'}; PRAGMA busy_timeout = ${OPEN_BUSY_MS};`);
  return db;
}

/** How long opening waits for another process's lock (once, at start; a store may lower it afterwards). */
export const OPEN_BUSY_MS = 5000;

/** SQLITE_BUSY / SQLITE_LOCKED (and their extended codes) from node:sqlite: another connection holds the lock. */
export function isSqliteBusy(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && ((code & 0xff) === 5 || (code & 0xff) === 6);
}
