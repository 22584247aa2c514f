// One running relay per data directory. A second `start` on the same
// directory would run spool recovery and delete the first one's messages in
// flight, so the daemon holds an exclusive lock for as long as it runs. The
// lock is an exclusive SQLite transaction on DATA/daemon.lock (fcntl locks
// underneath): the kernel drops it when the process dies, so a crash never
// leaves a stale lock behind. The pid file beside it is for the error message
// only. CLI commands (queue list, config import...) do not take the lock.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export class DataDirInUse extends Error {}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pidFile = join(dir, 'daemon.pid');
  const db = new DatabaseSync(join(dir, 'daemon.lock'), { timeout: 0 });
  try {
    db.exec('PRAGMA locking_mode=EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    let holder = '';
    try {
      holder = ` (pid ${readFileSync(pidFile, 'utf8').trim()})`;
    } catch {
      // The pid file is informative only.
    }
    throw new DataDirInUse(`data directory ${dir} is already in use by another mailwarden${holder}: ${(err as Error).message}`);
  }
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      rmSync(pidFile, { force: true });
      db.close();
    },
  };
}
