// fsync of one directory, group-committed: the spool's messages that finish
// together share one. A directory entry (a file created, a rename) is covered
// only by an fsync that starts after it, so a caller arriving while one runs
// waits for the next, which then covers everyone who arrived meanwhile.

import { open as openHandle, type FileHandle } from 'node:fs/promises';

export class DirSync {
  private readonly path: string;
  private handle: FileHandle | null = null;
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(path: string) {
    this.path = path;
  }

  sync(): Promise<void> {
    if (this.running === null) {
      const run = (async () => {
        this.handle ??= await openHandle(this.path, 'r');
        await this.handle.sync();
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
