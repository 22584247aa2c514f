// Spool files created ahead. A message's file is created in queue/ when DATA
// starts, and its directory entry must be on disk before the 250: a
// directory fsync that started after the file existed. Messages that finish
// together share one (dir-sync.ts); a lone session's message does not, and
// paid two flushes, its file's and the directory's. While messages come
// close together, this keeps a few empty `queue/<id>.msg` files ready, made
// in a batch and covered by one directory fsync for the batch, so that such
// a message's commit needs only its own file's fsync.
//
// A file ready here is named by a queue id taken when it was made, at most
// MAX_AGE_MS before its message arrives (ids still sort by arrival to within
// that); older ones are removed unused. An empty file is not a committed
// message: readers skip it, and a start after a crash removes it. Nothing
// is made ahead for an idle relay: a batch is made only when a message comes
// within BUSY_MS of the previous one, or when the last batch is being used.

import { close, closeSync, rmSync, unlink } from 'node:fs';
import { join } from 'node:path';
import { openAsync } from './spool-writer.ts';

/** A file made ahead: its descriptor (open for writing) and the directory's fsync mark once it existed. */
export interface PooledFile {
  id: string;
  fd: number;
  mark: number;
  at: number;
}

export interface SpoolPoolOptions {
  dir: string;
  /** The directory's fsync mark (DirSync.mark), taken once the entries exist. */
  mark(): number;
  /** Starts (or joins) a directory fsync. */
  sync(): Promise<void>;
  newId(now: number): string;
  now?: () => number;
  size?: number;
}

/** Files made per batch. */
const SIZE = 16;
/** A file older than this is removed unused (its id would no longer say when its message came). */
const MAX_AGE_MS = 1000;
/** Two messages this close together make the relay busy enough to make files ahead. */
const BUSY_MS = 50;

export class SpoolPool {
  private readonly o: Required<Omit<SpoolPoolOptions, 'dir' | 'mark' | 'sync' | 'newId'>> & SpoolPoolOptions;
  private ready: PooledFile[] = [];
  /** Handed out by nextId(), waiting for take(). */
  private readonly reserved = new Map<string, PooledFile>();
  private filling = false;
  private lastAsk = -Infinity;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(o: SpoolPoolOptions) {
    this.o = { now: Date.now, size: SIZE, ...o };
  }

  /** The queue id for the next message: a file made ahead when one is fresh (take() then hands it over), else a new id. */
  nextId(): string {
    const now = this.o.now();
    const busy = now - this.lastAsk < BUSY_MS;
    this.lastAsk = now;
    this.sweep(now);
    const f = this.ready.shift();
    if (f) this.reserved.set(f.id, f);
    if ((f || busy) && this.ready.length < this.o.size / 2 && !this.filling && !this.closed) void this.fill();
    return f?.id ?? this.o.newId(now);
  }

  /** The file made ahead for `id` (from nextId()), now the caller's; null for an id that has none. */
  take(id: string): PooledFile | null {
    const f = this.reserved.get(id);
    if (!f) return null;
    this.reserved.delete(id);
    return f;
  }

  /** Files ready and reserved now (tests). */
  get count(): { ready: number; reserved: number } {
    return { ready: this.ready.length, reserved: this.reserved.size };
  }

  /** Removes every file not handed over (a stop: they hold no message). */
  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    for (const f of [...this.ready, ...this.reserved.values()]) this.discard(f, true);
    this.ready = [];
    this.reserved.clear();
  }

  private async fill(): Promise<void> {
    this.filling = true;
    try {
      const now = this.o.now();
      const want = this.o.size - this.ready.length;
      const made = await Promise.allSettled(Array.from({ length: want }, () => create(this.o.dir, this.o.newId(now))));
      const files = made.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      if (files.length === 0) return;
      // Every entry exists now: one directory fsync started from here covers them all.
      const mark = this.o.mark();
      void this.o.sync().catch(() => {}); // a writer that takes one waits on it (DirSync.covered) and sees its error
      if (this.closed) {
        for (const f of files) this.discard({ ...f, mark, at: now }, true);
        return;
      }
      for (const f of files) this.ready.push({ ...f, mark, at: now });
      this.ready.sort((a, b) => (a.id < b.id ? -1 : 1));
      this.scheduleSweep();
    } finally {
      this.filling = false;
    }
  }

  private sweep(now: number): void {
    while (this.ready.length > 0 && now - this.ready[0]!.at > MAX_AGE_MS) this.discard(this.ready.shift()!, false);
    for (const [id, f] of this.reserved) {
      // Reserved but never taken (a DATA that ended before its writer began): gone after the same time.
      if (now - f.at > 2 * MAX_AGE_MS) {
        this.reserved.delete(id);
        this.discard(f, false);
      }
    }
  }

  private scheduleSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      this.sweep(this.o.now());
      if (this.ready.length > 0 || this.reserved.size > 0) this.scheduleSweep();
    }, MAX_AGE_MS);
    this.sweepTimer.unref();
  }

  private discard(f: PooledFile, sync: boolean): void {
    const path = join(this.o.dir, `${f.id}.msg`);
    if (sync) {
      try {
        closeSync(f.fd);
      } catch {
        // closed already
      }
      rmSync(path, { force: true });
      return;
    }
    close(f.fd, () => unlink(path, () => {}));
  }
}

async function create(dir: string, id: string): Promise<{ id: string; fd: number }> {
  return { id, fd: await openAsync(join(dir, `${id}.msg`)) };
}
