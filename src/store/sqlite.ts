// Opens an embedded SQLite database (node:sqlite) the way every store of the
// data directory wants it: WAL, a busy timeout for the CLI beside a running
// daemon, and a durability the caller chooses (FULL for what must survive a
// crash once written; OFF for what may be lost, like greylisting triplets).

import { DatabaseSync } from 'node:sqlite';

export function openSqlite(file: string, durable: boolean): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${durable ? 'FULL' : 'OFF'}; PRAGMA busy_timeout = 5000;`);
  return db;
}
