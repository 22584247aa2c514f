// fsync of one directory, group-committed: the spool's messages that finish
// together share one. A directory entry (a file created, a rename) is covered
// only by an fsync that starts after it, so a caller arriving while one runs
// waits for the next, which then covers everyone who arrived meanwhile. An
// entry created well before its commit (a spool file is created at DATA) is
// covered by any fsync that started after it: mark() when it exists, and
// covered(mark) waits only if no such fsync has run or is running.

import { open as openHandle, type FileHandle } from 'node:fs/promises';

export class DirSync {
  private readonly path: string;
  private handle: FileHandle | null = null;
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  /** fsyncs started so far; the one running has number `started`. */
  private started = 0;
  /** The highest-numbered fsync that succeeded. */
  private succeeded = 0;

  constructor(path: string) {
    this.path = path;
  }

  sync(): Promise<void> {
    if (this.running === null) {
      const n = ++this.started;
      const run = (async () => {
        this.handle ??= await openHandle(this.path, 'r');
        await this.handle.sync();
        this.succeeded = Math.max(this.succeeded, n);
      })();
      this.running = run.finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.next ??= this.running.then(
      () => this.again(),
      () => this.again(),
    );
    return this.next;
  }

  /** Call once an entry exists: covered() then knows which fsyncs started after it. */
  mark(): number {
    return this.started;
  }

  /** Resolves once an fsync that started after mark() was taken has succeeded (starting one only if none has or runs). */
  covered(mark: number): Promise<void> {
    if (this.succeeded > mark) return Promise.resolve();
    if (this.running && this.started > mark) return this.running;
    return this.sync();
  }

  /** Closes the directory's handle once no fsync runs. */
  async close(): Promise<void> {
    while (this.running || this.next) await (this.next ?? this.running)?.catch(() => {});
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }

  private again(): Promise<void> {
    this.next = null;
    return this.sync();
  }
}
