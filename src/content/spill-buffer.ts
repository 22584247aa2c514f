// Holds the octets of one archive while the walk needs all of them (a zip's
// central directory is at its end): in memory up to a small size, in a temp
// file past it, so that a large attachment costs disk, not memory. Refuses
// to grow past its limit: the caller then judges the archive as unread.

import { open, rm, mkdtemp, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Archives up to this size stay in memory; larger ones go to a temp file. */
export const IN_MEMORY_MAX = 1_048_576;

export class SpillBuffer {
  readonly limit: number;
  size = 0;
  /** Past the limit: what was written beyond it is dropped. */
  over = false;
  private chunks: Buffer[] = [];
  private dir: string | null = null;
  private file: FileHandle | null = null;
  private readonly tmp: string;

  constructor(limit: number, tmp = tmpdir()) {
    this.limit = limit;
    this.tmp = tmp;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.over) return;
    if (this.size + chunk.length > this.limit) {
      this.over = true;
      await this.dispose();
      return;
    }
    this.size += chunk.length;
    if (!this.file && this.size <= IN_MEMORY_MAX) {
      this.chunks.push(Buffer.from(chunk));
      return;
    }
    if (!this.file) {
      this.dir = await mkdtemp(join(this.tmp, 'mailwarden-zip-'));
      this.file = await open(join(this.dir, 'archive.zip'), 'w+', 0o600);
      for (const c of this.chunks) await this.file.write(c);
      this.chunks = [];
    }
    await this.file.write(chunk);
  }

  /** The content: a Buffer, or the path of the temp file (kept until dispose). */
  async done(): Promise<{ buffer: Buffer } | { path: string }> {
    if (this.file && this.dir) {
      await this.file.close();
      this.file = null;
      return { path: join(this.dir, 'archive.zip') };
    }
    const buffer = Buffer.concat(this.chunks);
    this.chunks = [];
    return { buffer };
  }

  /** Frees the memory and removes the temp file; safe to call twice. */
  async dispose(): Promise<void> {
    this.chunks = [];
    const f = this.file;
    this.file = null;
    await f?.close().catch(() => {});
    const d = this.dir;
    this.dir = null;
    if (d) await rm(d, { recursive: true, force: true });
  }
}
