// The spool: where accepted messages wait, as two files per message in
// DATA/spool/queue/: `<id>.eml` (the raw message, our Received header first)
// and `<id>.json` (its envelope). Both are written under tmp/, fsynced,
// renamed into queue/ (message first, envelope last), and the directory is
// fsynced: the envelope's rename is the commit point. Only after commit()
// resolves may the client hear 250.
//
// At open, the spool recovers from a crash: tmp/ is emptied, a message in
// queue/ without an envelope (never committed) is removed, and a file that
// cannot be read moves to corrupt/ with a log line.

import { closeSync, existsSync, fsync, mkdirSync, open, openSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, unlink, write, writeSync } from 'node:fs';
import { open as openHandle, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { isEnvelope, type Envelope } from './envelope.ts';
import { QUEUE_ID } from './queue-id.ts';
import type { Logger } from '../log/logger.ts';

const FLUSH_AT = 64 * 1024;

export interface SpooledMessage {
  envelope: Envelope;
  messagePath: string;
}

export class Spool {
  readonly root: string;
  readonly tmpDir: string;
  readonly queueDir: string;
  readonly corruptDir: string;
  private readonly logger: Logger;
  private dirHandle: FileHandle | null = null;
  private dirSyncRunning: Promise<void> | null = null;
  private dirSyncNext: Promise<void> | null = null;
  private space: { at: number; bytes: number } | null = null;

  constructor(dataDir: string, logger: Logger) {
    this.root = join(dataDir, 'spool');
    this.tmpDir = join(this.root, 'tmp');
    this.queueDir = join(this.root, 'queue');
    this.corruptDir = join(this.root, 'corrupt');
    this.logger = logger;
  }

  /** Creates the directories and recovers from an interrupted run. */
  open(): void {
    for (const d of [this.root, this.tmpDir, this.queueDir, this.corruptDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    const names = new Set(readdirSync(this.queueDir));
    for (const name of names) {
      const id = name.replace(/\.(eml|json)$/, '');
      if (name.endsWith('.eml') && !names.has(`${id}.json`)) {
        rmSync(join(this.queueDir, name), { force: true });
        this.logger.log('spool.orphan_removed', { id, reason: 'message without envelope: never committed' });
      } else if (name.endsWith('.json') && !names.has(`${id}.eml`)) {
        this.quarantineCorrupt(name, 'envelope without message');
      } else if (!name.endsWith('.eml') && !name.endsWith('.json')) {
        this.quarantineCorrupt(name, 'unexpected file', false);
      }
    }
    for (const name of readdirSync(this.tmpDir)) rmSync(join(this.tmpDir, name), { force: true, recursive: true });
  }

  begin(id: string): SpoolWriter {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    return new SpoolWriter(this, id);
  }

  /** Free octets for unprivileged writers on the spool's file system. */
  freeSpace(): number {
    // Asked at every MAIL: a statfs per second is plenty.
    const now = Date.now();
    if (this.space === null || now - this.space.at > 1000) {
      const s = statfsSync(this.root);
      this.space = { at: now, bytes: Number(s.bavail) * Number(s.bsize) };
    }
    return this.space.bytes;
  }

  /** Every committed message, oldest first. Unreadable ones move to corrupt/. */
  list(): SpooledMessage[] {
    const out: SpooledMessage[] = [];
    if (!existsSync(this.queueDir)) return out;
    for (const name of readdirSync(this.queueDir).sort()) {
      if (!name.endsWith('.json')) continue;
      const m = this.read(name.slice(0, -5));
      if (m) out.push(m);
    }
    return out;
  }

  read(id: string): SpooledMessage | null {
    if (!QUEUE_ID.test(id)) return null;
    const jsonPath = join(this.queueDir, `${id}.json`);
    const messagePath = join(this.queueDir, `${id}.eml`);
    if (!existsSync(jsonPath)) return null;
    let envelope: unknown;
    try {
      envelope = JSON.parse(readFileSync(jsonPath, 'utf8'));
    } catch {
      this.quarantineCorrupt(`${id}.json`, 'envelope is not JSON');
      return null;
    }
    if (!isEnvelope(envelope) || envelope.id !== id) {
      this.quarantineCorrupt(`${id}.json`, 'envelope lacks required fields');
      return null;
    }
    if (!existsSync(messagePath) || statSync(messagePath).size !== envelope.size) {
      this.quarantineCorrupt(`${id}.json`, 'message file missing or of the wrong size');
      return null;
    }
    return { envelope, messagePath };
  }

  /**
   * Moves a broken message (both files) to corrupt/. With `wholeMessage`
   * false only the named file moves: a stray "<id>" beside a good message
   * must not take the message with it.
   */
  /**
   * Rewrites a committed message's envelope atomically (temporary file,
   * fsync, rename, directory fsync): a crash leaves the old or the new one.
   */
  async update(envelope: Envelope): Promise<void> {
    if (!QUEUE_ID.test(envelope.id)) throw new Error(`bad queue id ${envelope.id}`);
    const tmp = join(this.tmpDir, `${envelope.id}.json.${process.pid}.${Date.now()}`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeAllSync(fd, Buffer.from(JSON.stringify(envelope, null, 1) + '\n'));
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.queueDir, `${envelope.id}.json`));
    await this.syncQueueDir();
  }

  /**
   * Removes a message that is done. The envelope goes first: a crash between
   * the two leaves a message without envelope, which recovery removes. No
   * directory fsync: if the removal is lost in a crash the message is only
   * delivered again (at least once).
   */
  remove(id: string): Promise<void> {
    if (!QUEUE_ID.test(id)) return Promise.reject(new Error(`bad queue id ${id}`));
    // Asynchronous: unlinking a file just written waits on the journal, and
    // the event loop has better things to do meanwhile.
    return new Promise((resolve) => {
      unlink(join(this.queueDir, `${id}.json`), () => unlink(join(this.queueDir, `${id}.eml`), () => resolve()));
    });
  }

  /**
   * Makes the renames into queue/ durable. Group commit: messages that
   * finish together share one directory fsync. A rename is covered only by
   * an fsync that starts after it, so a caller arriving while one runs waits
   * for the next, which then covers everyone who arrived meanwhile.
   */
  syncQueueDir(): Promise<void> {
    if (this.dirSyncRunning === null) {
      const run = (async () => {
        this.dirHandle ??= await openHandle(this.queueDir, 'r');
        await this.dirHandle.sync();
      })();
      this.dirSyncRunning = run.finally(() => {
        this.dirSyncRunning = null;
      });
      return this.dirSyncRunning;
    }
    this.dirSyncNext ??= this.dirSyncRunning.then(
      () => this.nextDirSync(),
      () => this.nextDirSync(),
    );
    return this.dirSyncNext;
  }

  private nextDirSync(): Promise<void> {
    this.dirSyncNext = null;
    return this.syncQueueDir();
  }

  messagePath(id: string): string {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    return join(this.queueDir, `${id}.eml`);
  }

  /** The header section of a message (without the blank line), at most `max` octets. */
  async headers(id: string, max = 256 * 1024): Promise<Buffer> {
    const fh = await openHandle(this.messagePath(id), 'r');
    try {
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      const data = buf.subarray(0, bytesRead);
      const end = data.indexOf('\r\n\r\n');
      return Buffer.from(end >= 0 ? data.subarray(0, end + 2) : data);
    } finally {
      await fh.close();
    }
  }

  private quarantineCorrupt(name: string, reason: string, wholeMessage = true): void {
    const id = name.replace(/\.(eml|json)$/, '');
    const names = wholeMessage ? [`${id}.json`, `${id}.eml`] : [name];
    for (const n of names) {
      const from = join(this.queueDir, n);
      if (existsSync(from)) renameSync(from, join(this.corruptDir, n));
    }
    this.logger.log('spool.corrupt', { id, file: wholeMessage ? undefined : name, reason, moved_to: this.corruptDir });
  }
}

export class SpoolWriter {
  readonly id: string;
  private readonly spool: Spool;
  /** Both temporary files are created as DATA starts, off the event loop, while the data arrives. */
  private readonly messageFd: Promise<number>;
  private readonly envelopeFd: Promise<number>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private done = false;

  constructor(spool: Spool, id: string) {
    this.spool = spool;
    this.id = id;
    this.messageFd = openAsync(this.tmpMessage);
    this.envelopeFd = openAsync(this.tmpEnvelope);
    // Awaited later (or settled by abort); never an unhandled rejection meanwhile.
    this.messageFd.catch(() => {});
    this.envelopeFd.catch(() => {});
  }

  get size(): number {
    return this.written + this.pendingBytes;
  }

  private get tmpMessage(): string {
    return join(this.spool.tmpDir, `${this.id}.eml`);
  }

  private get tmpEnvelope(): string {
    return join(this.spool.tmpDir, `${this.id}.json`);
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
    return data;
  }

  /** Hands the buffered data to the file; large writes go through the thread pool. */
  private async flush(): Promise<void> {
    const fd = await this.messageFd;
    if (this.pendingBytes === 0) return;
    const data = this.takePending();
    let off = 0;
    while (off < data.length) off += await writeAsync(fd, data, off, data.length - off);
  }

  /**
   * Makes the message durable under its queue id; 250 may follow when this
   * resolves. Small writes, close and rename are synchronous (page cache and
   * metadata: quicker than a trip through the thread pool); the fsyncs, which
   * wait on the disk, run in the pool side by side; the directory fsync is
   * shared with the messages that finish at the same time.
   */
  async commit(envelope: Omit<Envelope, 'size' | 'id'>): Promise<Envelope> {
    if (this.done) throw new Error('spool writer already finished');
    const [fd, ef] = await Promise.all([this.messageFd, this.envelopeFd]);
    if (this.pendingBytes > 0) writeAllSync(fd, this.takePending());
    const full: Envelope = { ...envelope, id: this.id, size: this.written };
    writeAllSync(ef, Buffer.from(JSON.stringify(full, null, 1) + '\n'));
    const results = await Promise.allSettled([fsyncAsync(fd), fsyncAsync(ef)]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.done = true;
    closeSync(fd);
    closeSync(ef);
    const queue = this.spool.queueDir;
    // Message first, envelope last: the envelope's rename is the commit point.
    renameSync(this.tmpMessage, join(queue, `${this.id}.eml`));
    renameSync(this.tmpEnvelope, join(queue, `${this.id}.json`));
    await this.spool.syncQueueDir();
    return full;
  }

  /** Drops everything written so far. Safe to call more than once, and after a failed commit. */
  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.pending = [];
    const committedFiles = this.done;
    this.done = true;
    if (!committedFiles) {
      for (const r of await Promise.allSettled([this.messageFd, this.envelopeFd])) {
        if (r.status !== 'fulfilled') continue;
        try {
          closeSync(r.value);
        } catch {
          // already closed
        }
      }
    }
    rmSync(this.tmpMessage, { force: true });
    rmSync(this.tmpEnvelope, { force: true });
  }

  private aborted = false;
}

function openAsync(path: string): Promise<number> {
  return new Promise((resolve, reject) => open(path, 'wx', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
}

const fsyncAsync = promisify(fsync);

function writeAsync(fd: number, data: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, data, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function writeAllSync(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}
