// One running relay per data directory. A second `start` on the same
// directory would run spool recovery and delete the first one's messages in
// flight, so the daemon holds an exclusive lock for as long as it runs. The
// lock is an exclusive SQLite transaction on DATA/daemon.lock (fcntl locks
// underneath): the kernel drops it when the process dies, so a crash never
// leaves a stale lock behind. The pid file beside it names the holder (its pid
// and when it took the lock) for the error message, and is removed at
// release: one found by the next holder was left by a holder that died, which
// a restarted cluster node uses to take its name back at once (its dead
// incarnation's row in the node registry carries that pid and start time).
// CLI commands (queue list, config import...) do not take the lock.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export class DataDirInUse extends Error {}

/** A holder of the lock: its pid and when it took the lock (epoch ms). */
export interface LockHolder {
  pid: number;
  since: number;
}

export interface DataDirLock {
  /** When this process took the lock (epoch ms). */
  readonly since: number;
  /** The holder before this one, when it died holding the lock (it left its pid file); null after a clean release. */
  readonly previous: LockHolder | null;
  /**
   * Gives the lock up. `restorePrevious`: a start that failed before it took
   * the dead holder's place puts that holder back in the pid file (instead of
   * removing it), so that the next start still learns of it.
   */
  release(opts?: { restorePrevious?: boolean }): void;
}

/** The pid file's holder, or null when it is absent or not ours to read ("PID\nSINCE\n"; older versions wrote the pid alone). */
function readHolder(pidFile: string): LockHolder | null {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch {
    return null;
  }
  const [pid, since] = text.trim().split(/\s+/).map(Number);
  return Number.isSafeInteger(pid) && pid! > 0 && Number.isSafeInteger(since) && since! > 0 ? { pid: pid!, since: since! } : null;
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
    const pid = readPidOnly(pidFile);
    const holder = /^\d+$/.test(pid) ? ` (pid ${pid})` : '';
    throw new DataDirInUse(`data directory ${dir} is already in use by another mailwarden${holder}: ${(err as Error).message}`);
  }
  // Read before it is overwritten: we hold the lock, so whoever wrote it is gone.
  const previous = readHolder(pidFile);
  const since = Date.now();
  writeFileSync(pidFile, `${process.pid}\n${since}\n`, { mode: 0o600 });
  let held = true;
  return {
    since,
    previous,
    release(opts = {}) {
      if (!held) return;
      held = false;
      if (opts.restorePrevious && previous) writeFileSync(pidFile, `${previous.pid}\n${previous.since}\n`, { mode: 0o600 });
      else rmSync(pidFile, { force: true });
      db.close();
    },
  };
}

function readPidOnly(pidFile: string): string {
  try {
    return readFileSync(pidFile, 'utf8').trim().split(/\s+/)[0] ?? '';
  } catch {
    return '';
  }
}
