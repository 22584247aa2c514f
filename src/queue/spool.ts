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

import { closeSync, existsSync, fsync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, unlinkSync, write, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
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
  remove(id: string): void {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    for (const name of [`${id}.json`, `${id}.eml`]) {
      try {
        unlinkSync(join(this.queueDir, name));
      } catch {
        // already gone
      }
    }
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
        this.dirHandle ??= await open(this.queueDir, 'r');
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
    const fh = await open(this.messagePath(id), 'r');
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
  private fd: number | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private done = false;

  constructor(spool: Spool, id: string) {
    this.spool = spool;
    this.id = id;
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

  private file(): number {
    this.fd ??= openSync(this.tmpMessage, 'wx', 0o600);
    return this.fd;
  }

  /** Buffers small writes; resolves once the data is handed to the file (or buffered). */
  async write(chunk: Buffer): Promise<void> {
    if (this.done) throw new Error('spool writer already finished');
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= FLUSH_AT) await this.flush();
  }

  /** Hands the buffered data to the file; large writes go through the thread pool. */
  private async flush(): Promise<void> {
    const fd = this.file();
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.written += data.length;
    this.pendingBytes = 0;
    let off = 0;
    while (off < data.length) off += await writeAsync(fd, data, off, data.length - off);
  }

  /**
   * Makes the message durable under its queue id; 250 may follow when this
   * resolves. Metadata calls (open, close, rename) are synchronous: they are
   * quick and a trip through the thread pool each cost more CPU than they
   * do. Only the fsyncs, which wait on the disk, leave the event loop; the
   * message's and the envelope's run side by side.
   */
  async commit(envelope: Omit<Envelope, 'size' | 'id'>): Promise<Envelope> {
    if (this.done) throw new Error('spool writer already finished');
    if (this.pendingBytes > 0 || this.fd === null) {
      const fd = this.file();
      const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.written += data.length;
      this.pendingBytes = 0;
      writeAllSync(fd, data);
    }
    const full: Envelope = { ...envelope, id: this.id, size: this.written };
    const ef = openSync(this.tmpEnvelope, 'wx', 0o600);
    try {
      writeAllSync(ef, Buffer.from(JSON.stringify(full, null, 1) + '\n'));
      const results = await Promise.allSettled([fsyncAsync(this.fd as number), fsyncAsync(ef)]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    } finally {
      closeSync(ef);
    }
    closeSync(this.fd as number);
    this.fd = null;
    const queue = this.spool.queueDir;
    // Message first, envelope last: the envelope's rename is the commit point.
    renameSync(this.tmpMessage, join(queue, `${this.id}.eml`));
    renameSync(this.tmpEnvelope, join(queue, `${this.id}.json`));
    await this.spool.syncQueueDir();
    this.done = true;
    return full;
  }

  /** Drops everything written so far. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.pending = [];
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = null;
    }
    rmSync(this.tmpMessage, { force: true });
    rmSync(this.tmpEnvelope, { force: true });
  }
}

const fsyncAsync = promisify(fsync);

function writeAsync(fd: number, data: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, data, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function writeAllSync(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}
