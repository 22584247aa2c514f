// One message being received into the spool (src/queue/spool.ts), as one
// file: `queue/<id>.msg`, created in its final directory as DATA starts (its
// directory entry exists from then on), the data written as it streams in,
// and at the final dot the envelope and footer appended (spool-trailer.ts).
// commit() then fsyncs the file and the directory side by side: the
// directory's fsync is group-committed (dir-sync.ts) and starts after the
// entry was created, so it covers it. Until the footer is written and
// fsynced, the file is not a committed message: readers skip it, recovery
// removes it. Header edits and the strip rewrite write a new file in tmp/,
// which commit() renames over the first one.
//
// Nothing here depends on Spool.open(): an SMTP worker process that only
// attached to the spool writes the same way.

import { closeSync, createReadStream, fsync, open, read, renameSync, rmSync, write, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import type { Envelope } from './envelope.ts';
import { encodeTrailer } from './spool-trailer.ts';
import type { Spool, SpoolArea } from './spool.ts';
import type { PooledFile } from './spool-pool.ts';
import { editHeaders, isEmptyEdit, type HeaderEdit } from '../scan/header-edit.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';

const FLUSH_AT = 64 * 1024;
/** How much of a message's start a header edit reads: header sections beyond this are only added to. */
const HEAD_MAX = 256 * 1024;

export class SpoolWriter {
  readonly id: string;
  private readonly spool: Spool;
  private fd: Promise<number>;
  /** Where the message is being written: queue/<id>.msg, or a file in tmp/ after an edit or a rewrite. */
  private path: string;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  /** CRC32 of the octets written to the file so far. */
  private crc = 0;
  private done = false;
  private committed = false;
  private aborted = false;
  private seq = 0;
  /** The queue directory's fsync mark when the file was created there (see DirSync.covered). */
  private created = -1;
  /** After commit: the whole message when it never left memory before the final write (a small one), else null. */
  private whole: Buffer | null = null;

  /** `ahead`: the file made ahead for this id (spool-pool.ts), whose directory entry an earlier fsync covers. */
  constructor(spool: Spool, id: string, ahead: PooledFile | null = null) {
    this.spool = spool;
    this.id = id;
    this.path = join(spool.queueDir, `${id}.msg`);
    if (ahead) {
      this.fd = Promise.resolve(ahead.fd);
      this.created = ahead.mark;
      return;
    }
    // Created off the event loop while the data arrives.
    this.fd = openAsync(this.path).then((fd) => {
      // The entry exists now: any directory fsync that starts from here on covers it.
      this.created = spool.dirMark('queue');
      return fd;
    });
    this.fd.catch(() => {}); // awaited later (or settled by abort)
  }

  get size(): number {
    return this.written + this.pendingBytes;
  }

  /** The committed message's octets when it was small enough to stay in memory until commit (delivery reads them instead of the file). */
  get committedBody(): Buffer | null {
    return this.committed ? this.whole : null;
  }

  /** Buffers small writes; resolves once the data is handed to the file (or buffered). */
  async write(chunk: Buffer): Promise<void> {
    if (this.done) throw new Error('spool writer already finished');
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FLUSH_AT) await this.flush();
  }

  private takePending(): Buffer {
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.written += data.length;
    this.pendingBytes = 0;
    this.crc = crc32(data, this.crc);
    return data;
  }

  /** Hands the buffered data to the file; large writes go through the thread pool. */
  private async flush(): Promise<void> {
    const fd = await this.fd;
    if (this.pendingBytes === 0) return;
    await writeAllAsync(fd, this.takePending());
  }

  /**
   * The message written so far, for a scanner that wants it whole after DATA
   * (spamd, rspamd): from memory while it is small, else from the file, in
   * bounded chunks.
   */
  async contents(): Promise<MessageSource> {
    if (this.written === 0) {
      const parts = [...this.pending];
      return {
        size: this.pendingBytes,
        async *chunks() {
          yield* parts;
        },
      };
    }
    await this.flush();
    const path = this.path;
    const size = this.written;
    return { size, chunks: () => createReadStream(path, { start: 0, end: size - 1, highWaterMark: 64 * 1024 }) };
  }

  private tmpPath(kind: string): string {
    return join(this.spool.tmpDir, `${this.id}.msg.${kind}${++this.seq > 1 ? `.${this.seq}` : ''}`);
  }

  /** Makes the file at `newPath` (already written: `written` octets, CRC `crc`) the message, dropping the old one. */
  private async replaceWith(newPath: string, nfd: number, written: number, crc: number, pending: Buffer[] = [], pendingBytes = 0): Promise<void> {
    const oldFd = this.fd;
    const oldPath = this.path;
    this.fd = Promise.resolve(nfd);
    this.path = newPath;
    this.pending = pending;
    this.pendingBytes = pendingBytes;
    this.written = written;
    this.crc = crc;
    try {
      closeSync(await oldFd);
    } finally {
      rmSync(oldPath, { force: true });
    }
  }

  /**
   * Applies a header edit before commit. A message still in memory is edited
   * there; one already in its file is copied into a new file with the new
   * header section (only scanned messages past FLUSH_AT pay for the copy).
   */
  private async applyEdit(edit: HeaderEdit): Promise<void> {
    if (this.written === 0) {
      const whole = Buffer.concat(this.pending, this.pendingBytes);
      const { out, replaced } = editHeaders(whole, edit, true);
      this.pending = [out, whole.subarray(replaced)];
      this.pendingBytes = out.length + whole.length - replaced;
      return;
    }
    await this.flush();
    const rfd = await this.fd;
    const size = this.written;
    const headLen = Math.min(size, HEAD_MAX);
    const head = Buffer.alloc(headLen);
    let got = 0;
    while (got < headLen) {
      const n = await readAsync(rfd, head, got, headLen - got, got);
      if (n === 0) break;
      got += n;
    }
    const { out, replaced } = editHeaders(head, edit, headLen === size);
    const newPath = this.tmpPath('edit');
    const nfd = await openAsync(newPath);
    let crc = 0;
    try {
      await writeAllAsync(nfd, out);
      crc = crc32(out, crc);
      const buf = Buffer.alloc(256 * 1024);
      for (let pos = replaced; pos < size; ) {
        const n = await readAsync(rfd, buf, 0, Math.min(buf.length, size - pos), pos);
        if (n === 0) throw new Error('message file ended early');
        await writeAllAsync(nfd, buf.subarray(0, n));
        crc = crc32(buf.subarray(0, n), crc);
        pos += n;
      }
    } catch (err) {
      closeSync(nfd);
      rmSync(newPath, { force: true });
      throw err;
    }
    await this.replaceWith(newPath, nfd, out.length + size - replaced, crc);
  }

  /**
   * Replaces the message written so far by what `transform` makes of it (the
   * content rules' strip action), before commit. The new message always goes
   * to a new file in tmp/, written as it comes (64 KiB at a time), while the
   * old one is read from memory or from its file: memory stays flat, and a
   * transform that fails leaves the writer as it was.
   */
  async rewrite(transform: (source: MessageSource) => AsyncIterable<Buffer>): Promise<void> {
    if (this.done) throw new Error('spool writer already finished');
    const source = await this.contents();
    const newPath = this.tmpPath('rewrite');
    const nfd = await openAsync(newPath);
    let written = 0;
    let crc = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const chunk of transform(source)) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < FLUSH_AT) continue;
        const data = Buffer.concat(pending, pendingBytes);
        await writeAllAsync(nfd, data);
        crc = crc32(data, crc);
        written += pendingBytes;
        pending = [];
        pendingBytes = 0;
      }
    } catch (err) {
      closeSync(nfd);
      rmSync(newPath, { force: true });
      throw err;
    }
    // The old file goes only now: until here an abort() finds the writer as it was.
    await this.replaceWith(newPath, nfd, written, crc, pending, pendingBytes);
  }

  /**
   * Makes the message durable under its queue id (in queue/, or in
   * quarantine/); 250 may follow when this resolves. The rest of the message
   * and the trailer are written (synchronous: page cache), then the file's
   * fsync and the directory's (shared with the messages that finish at the
   * same time) run side by side in the thread pool: one flush round.
   */
  async commit(envelope: Omit<Envelope, 'size' | 'id'>, opts: { edit?: HeaderEdit; area?: SpoolArea } = {}): Promise<Envelope> {
    if (this.done) throw new Error('spool writer already finished');
    if (opts.edit && !isEmptyEdit(opts.edit)) await this.applyEdit(opts.edit);
    const fd = await this.fd;
    this.done = true;
    // The rest of the message and the trailer in one write (a small message: its only one).
    const wasInMemory = this.written === 0;
    const rest = this.pendingBytes > 0 ? this.takePending() : null;
    const full: Envelope = { ...envelope, id: this.id, size: this.written };
    const trailer = encodeTrailer(full, this.written, this.crc);
    writeAllSync(fd, rest ? Buffer.concat([rest, trailer]) : trailer);
    const area = opts.area ?? 'queue';
    const target = join(this.spool.dir(area), `${this.id}.msg`);
    const syncs: Promise<void>[] = [];
    let dirSynced = false;
    if (this.path !== target) {
      // An edited or rewritten message (from tmp/) or a quarantined one (from
      // queue/): the rename comes before the directories' fsyncs, which then cover it.
      const from = this.path;
      renameSync(from, target);
      this.path = target;
      if (from.startsWith(this.spool.queueDir + '/')) syncs.push(this.spool.syncDir('queue'));
      syncs.push(this.spool.syncDir(area));
      dirSynced = true;
    }
    // The file's entry in queue/ was created at DATA: a directory fsync that started since (another message's) covers it.
    if (!dirSynced) syncs.push(this.spool.syncedSince('queue', this.created));
    syncs.push(fsyncAsync(fd));
    const results = await Promise.allSettled(syncs);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.committed = true;
    if (wasInMemory) this.whole = rest ?? Buffer.alloc(0);
    closeSync(fd);
    return full;
  }

  /** Drops everything written so far. Safe to call more than once, and after a failed commit (whose file goes too). */
  async abort(): Promise<void> {
    if (this.aborted || this.committed) return;
    this.aborted = true;
    this.done = true;
    this.pending = [];
    const fd = await this.fd.catch(() => null);
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    rmSync(this.path, { force: true });
  }
}

/** Creates a spool file (exclusive, owner only) in the thread pool. */
export function openAsync(path: string): Promise<number> {
  return new Promise((resolve, reject) => open(path, 'wx+', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
}

const fsyncAsync = promisify(fsync);

function writeAsync(fd: number, data: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, data, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function readAsync(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

async function writeAllAsync(fd: number, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) off += await writeAsync(fd, data, off, data.length - off);
}

function writeAllSync(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}
