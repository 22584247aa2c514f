// The spool: where accepted messages wait, as two files per message in
// DATA/spool/queue/: `<id>.eml` (the raw message, our Received header first)
// and `<id>.json` (its envelope). Both are written under tmp/, fsynced,
// renamed into queue/ (message first, envelope last), and the directory is
// fsynced: the envelope's rename is the commit point. Only after commit()
// resolves may the client hear 250.
//
// Quarantined messages (src/scan) are committed the same way into
// quarantine/, which the queue manager never reads; a release moves them
// into queue/ (message first, envelope last).
//
// At open, the spool recovers from a crash: tmp/ is emptied, a message in
// queue/ or quarantine/ without an envelope (never committed) is removed, and
// a file that cannot be read moves to corrupt/ with a log line. Only open()
// moves files aside: it runs under the data directory's lock, while read()
// and list() are also called by other processes and must change nothing.

import { closeSync, createReadStream, existsSync, fsync, linkSync, mkdirSync, open, openSync, read, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, unlink, write, writeSync } from 'node:fs';
import { open as openHandle, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { isEnvelope, type Envelope } from './envelope.ts';
import { QUEUE_ID } from './queue-id.ts';
import type { Logger } from '../log/logger.ts';
import { editHeaders, isEmptyEdit, type HeaderEdit } from '../scan/header-edit.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';

const FLUSH_AT = 64 * 1024;
/** How much of a message's start a header edit reads: header sections beyond this are only added to. */
const HEAD_MAX = 256 * 1024;

export type SpoolArea = 'queue' | 'quarantine';

/**
 * fsync of one directory, group-committed: messages that finish together
 * share one. A rename is covered only by an fsync that starts after it, so a
 * caller arriving while one runs waits for the next, which then covers
 * everyone who arrived meanwhile.
 */
class DirSync {
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

export interface SpooledMessage {
  envelope: Envelope;
  messagePath: string;
}

export class Spool {
  readonly root: string;
  readonly tmpDir: string;
  readonly queueDir: string;
  readonly corruptDir: string;
  readonly quarantineDir: string;
  private readonly logger: Logger;
  private readonly queueSync: DirSync;
  private readonly quarantineSync: DirSync;
  private space: { at: number; bytes: number } | null = null;

  constructor(dataDir: string, logger: Logger) {
    this.root = join(dataDir, 'spool');
    this.tmpDir = join(this.root, 'tmp');
    this.queueDir = join(this.root, 'queue');
    this.corruptDir = join(this.root, 'corrupt');
    this.quarantineDir = join(this.root, 'quarantine');
    this.logger = logger;
    this.queueSync = new DirSync(this.queueDir);
    this.quarantineSync = new DirSync(this.quarantineDir);
  }

  dir(area: SpoolArea): string {
    return area === 'queue' ? this.queueDir : this.quarantineDir;
  }

  /** For a process that only writes new messages (an SMTP worker): the primary's open() made the directories and recovered. */
  attach(): void {
    for (const d of [this.tmpDir, this.queueDir, this.quarantineDir]) if (!existsSync(d)) throw new Error(`the spool directory ${d} is missing: the primary process opens the spool first`);
  }

  /** Creates the directories and recovers from an interrupted run. */
  open(): void {
    for (const d of [this.root, this.tmpDir, this.queueDir, this.corruptDir, this.quarantineDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    for (const area of ['queue', 'quarantine'] as const) {
      const dir = this.dir(area);
      const names = new Set(readdirSync(dir));
      for (const name of names) {
        const id = name.replace(/\.(eml|json)$/, '');
        if (area === 'quarantine' && existsSync(join(this.queueDir, `${id}.json`))) {
          // A release that committed before the quarantine's files went.
          rmSync(join(dir, name), { force: true });
          if (name.endsWith('.json')) this.logger.log('spool.release_completed', { id });
          continue;
        }
        if (name.endsWith('.eml') && !names.has(`${id}.json`)) {
          rmSync(join(dir, name), { force: true });
          this.logger.log('spool.orphan_removed', { id, area, reason: 'message without envelope: never committed' });
        } else if (name.endsWith('.json') && !names.has(`${id}.eml`)) {
          this.moveCorrupt(area, name, 'envelope without message');
        } else if (!name.endsWith('.eml') && !name.endsWith('.json')) {
          this.moveCorrupt(area, name, 'unexpected file', false);
        } else if (name.endsWith('.json')) {
          const m = this.inspect(id, area);
          if (!m.ok && m.reason !== 'absent') this.moveCorrupt(area, name, m.reason);
        }
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

  /** Every committed message of an area, oldest first; unreadable ones are left out (open() moves them aside). */
  list(area: SpoolArea = 'queue'): SpooledMessage[] {
    const out: SpooledMessage[] = [];
    const dir = this.dir(area);
    if (!existsSync(dir)) return out;
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.json')) continue;
      const m = this.read(name.slice(0, -5), area);
      if (m) out.push(m);
    }
    return out;
  }

  /**
   * One committed message, or null when it is absent or unreadable. Reading
   * never changes the spool: the API and `queue list` in another process call
   * this without the data directory's lock, and a message that a delivery
   * removed a moment ago is not corrupt. Broken files are moved aside by
   * open(), which runs under the lock.
   */
  read(id: string, area: SpoolArea = 'queue'): SpooledMessage | null {
    const m = this.inspect(id, area);
    return m.ok ? m.message : null;
  }

  /** What read() sees, with the reason when it sees no message. */
  private inspect(id: string, area: SpoolArea): { ok: true; message: SpooledMessage } | { ok: false; reason: string } {
    if (!QUEUE_ID.test(id)) return { ok: false, reason: 'not a queue id' };
    const dir = this.dir(area);
    const jsonPath = join(dir, `${id}.json`);
    const messagePath = join(dir, `${id}.eml`);
    let envelope: unknown;
    try {
      envelope = JSON.parse(readFileSync(jsonPath, 'utf8'));
    } catch (err) {
      return { ok: false, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'envelope is not JSON' };
    }
    if (!isEnvelope(envelope) || envelope.id !== id) return { ok: false, reason: 'envelope lacks required fields' };
    let size: number;
    try {
      size = statSync(messagePath).size;
    } catch {
      return { ok: false, reason: 'message file missing or of the wrong size' };
    }
    if (size !== envelope.size) return { ok: false, reason: 'message file missing or of the wrong size' };
    return { ok: true, message: { envelope, messagePath } };
  }

  /**
   * Moves a quarantined message into the queue with its new envelope. The
   * message is hard-linked into queue/ (the quarantine keeps its copy), the
   * queue's envelope is written (the commit point), and only then do the
   * quarantine's files go. A crash before the commit leaves a message in
   * queue/ without envelope, which recovery removes: the message is still in
   * quarantine. A crash after it leaves the message in both, and recovery
   * drops the quarantine's copy: the release went through.
   */
  async release(envelope: Envelope): Promise<void> {
    const id = envelope.id;
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    const target = join(this.queueDir, `${id}.eml`);
    rmSync(target, { force: true }); // a link left by an earlier release that did not commit
    linkSync(join(this.quarantineDir, `${id}.eml`), target);
    await this.update(envelope);
    this.removeQuarantined(id);
    await this.quarantineSync.sync();
  }

  /** Removes a quarantined message (envelope first, as remove() does). */
  removeQuarantined(id: string): void {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    rmSync(join(this.quarantineDir, `${id}.json`), { force: true });
    rmSync(join(this.quarantineDir, `${id}.eml`), { force: true });
  }

  /**
   * Rewrites a committed message's envelope atomically (temporary file,
   * fsync, rename, directory fsync): a crash leaves the old or the new one.
   */
  async update(envelope: Envelope, area: SpoolArea = 'queue'): Promise<void> {
    if (!QUEUE_ID.test(envelope.id)) throw new Error(`bad queue id ${envelope.id}`);
    const tmp = join(this.tmpDir, `${envelope.id}.json.${process.pid}.${Date.now()}.${++this.tmpSeq}`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeAllSync(fd, Buffer.from(JSON.stringify(envelope, null, 1) + '\n'));
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir(area), `${envelope.id}.json`));
    await this.syncDir(area);
  }

  private tmpSeq = 0;

  /**
   * Splits a quarantined message (QueueStore.splitQuarantined): the released
   * copy first (the quarantined message hard-linked into queue/ under the new
   * id, its envelope renamed in: the copy's commit point), then the
   * quarantine's new envelope. A crash before the copy commits leaves a
   * message without envelope in queue/ (recovery removes it; the share is
   * still in quarantine); a crash after it and before the quarantine's
   * envelope is renamed leaves the share both queued and still listed in
   * quarantine: it is delivered, and could be released a second time. Never
   * lost. The caller serialises changes of one message (one process holds the
   * data directory's lock).
   */
  async splitQuarantined(expected: Envelope, remaining: Envelope, released: Envelope | null): Promise<boolean> {
    const id = remaining.id;
    if (!QUEUE_ID.test(id) || expected.id !== id) throw new Error(`bad queue id ${id}`);
    const now = this.read(id, 'quarantine');
    if (!now || JSON.stringify(now.envelope) !== JSON.stringify(expected)) return false;
    if (released) {
      if (!QUEUE_ID.test(released.id) || released.id === id) throw new Error(`bad queue id ${released.id}`);
      const target = join(this.queueDir, `${released.id}.eml`);
      rmSync(target, { force: true });
      linkSync(join(this.quarantineDir, `${id}.eml`), target);
      await this.update(released, 'queue');
    }
    await this.update(remaining, 'quarantine');
    return true;
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

  /** Closes the directories' handles (the files stay as they are). */
  async close(): Promise<void> {
    await Promise.all([this.queueSync.close(), this.quarantineSync.close()]);
  }

  /** Makes the renames into an area durable (group commit, see DirSync). */
  syncDir(area: SpoolArea): Promise<void> {
    return area === 'queue' ? this.queueSync.sync() : this.quarantineSync.sync();
  }

  messagePath(id: string): string {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    return join(this.queueDir, `${id}.eml`);
  }

  /** The header section of a message (without the blank line), at most `max` octets. */
  async headers(id: string, max = 256 * 1024, area: SpoolArea = 'queue'): Promise<Buffer> {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    const fh = await openHandle(join(this.dir(area), `${id}.eml`), 'r');
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

  /**
   * Moves a broken message (both files) to corrupt/. With `wholeMessage`
   * false only the named file moves: a stray "<id>" beside a good message
   * must not take the message with it.
   */
  private moveCorrupt(area: SpoolArea, name: string, reason: string, wholeMessage = true): void {
    const id = name.replace(/\.(eml|json)$/, '');
    const names = wholeMessage ? [`${id}.json`, `${id}.eml`] : [name];
    for (const n of names) {
      const from = join(this.dir(area), n);
      if (existsSync(from)) renameSync(from, join(this.corruptDir, area === 'queue' ? n : `quarantine-${n}`));
    }
    this.logger.log('spool.corrupt', { id, area, file: wholeMessage ? undefined : name, reason, moved_to: this.corruptDir });
  }
}

export class SpoolWriter {
  readonly id: string;
  private readonly spool: Spool;
  /** Both temporary files are created as DATA starts, off the event loop, while the data arrives. */
  private messageFd: Promise<number>;
  private readonly envelopeFd: Promise<number>;
  /** The message's temporary file; a header edit of a flushed message writes a new one. */
  private tmpMessage: string;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private done = false;

  constructor(spool: Spool, id: string) {
    this.spool = spool;
    this.id = id;
    this.tmpMessage = join(this.spool.tmpDir, `${this.id}.eml`);
    this.messageFd = openAsync(this.tmpMessage);
    this.envelopeFd = openAsync(this.tmpEnvelope);
    // Awaited later (or settled by abort); never an unhandled rejection meanwhile.
    this.messageFd.catch(() => {});
    this.envelopeFd.catch(() => {});
  }

  get size(): number {
    return this.written + this.pendingBytes;
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
   * The message written so far, for a scanner that wants it whole after DATA
   * (spamd, rspamd): from memory while it is small, else from the temporary
   * file, in bounded chunks.
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
    const path = this.tmpMessage;
    const size = this.written;
    return { size, chunks: () => createReadStream(path, { start: 0, end: size - 1, highWaterMark: 64 * 1024 }) };
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
    const oldFd = await this.messageFd;
    const oldPath = this.tmpMessage;
    const size = this.written;
    const headLen = Math.min(size, HEAD_MAX);
    const head = Buffer.alloc(headLen);
    const rfd = openSync(oldPath, 'r');
    try {
      let got = 0;
      while (got < headLen) {
        const n = await readAsync(rfd, head, got, headLen - got, got);
        if (n === 0) break;
        got += n;
      }
      const { out, replaced } = editHeaders(head, edit, headLen === size);
      const newPath = `${oldPath}.edit`;
      const nfd = await openAsync(newPath);
      try {
        await writeAllAsync(nfd, out);
        const buf = Buffer.alloc(256 * 1024);
        for (let pos = replaced; pos < size; ) {
          const n = await readAsync(rfd, buf, 0, Math.min(buf.length, size - pos), pos);
          if (n === 0) throw new Error('temporary message file ended early');
          await writeAllAsync(nfd, buf.subarray(0, n));
          pos += n;
        }
      } catch (err) {
        closeSync(nfd);
        rmSync(newPath, { force: true });
        throw err;
      }
      closeSync(oldFd);
      rmSync(oldPath, { force: true });
      this.tmpMessage = newPath;
      this.messageFd = Promise.resolve(nfd);
      this.written = out.length + size - replaced;
    } finally {
      closeSync(rfd);
    }
  }

  /**
   * Replaces the message written so far by what `transform` makes of it (the
   * content rules' strip action), before commit. The new message always goes
   * to a new temporary file, written as it comes (64 KiB at a time), while
   * the old one is read from memory or from its file: memory stays flat, and
   * a transform that fails leaves the writer as it was. commit() then makes
   * the new file durable as usual (fsync, rename, directory fsync).
   */
  async rewrite(transform: (source: MessageSource) => AsyncIterable<Buffer>): Promise<void> {
    if (this.done) throw new Error('spool writer already finished');
    const source = await this.contents();
    const newPath = `${this.tmpMessage}.rewrite`;
    const nfd = await openAsync(newPath);
    let written = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const chunk of transform(source)) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < FLUSH_AT) continue;
        await writeAllAsync(nfd, Buffer.concat(pending, pendingBytes));
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
    const oldFd = this.messageFd;
    const oldPath = this.tmpMessage;
    this.messageFd = Promise.resolve(nfd);
    this.tmpMessage = newPath;
    this.pending = pending;
    this.pendingBytes = pendingBytes;
    this.written = written;
    try {
      closeSync(await oldFd);
    } finally {
      rmSync(oldPath, { force: true });
    }
  }

  /**
   * Makes the message durable under its queue id (in queue/, or in
   * quarantine/); 250 may follow when this resolves. Small writes, close and
   * rename are synchronous (page cache and metadata: quicker than a trip
   * through the thread pool); the fsyncs, which wait on the disk, run in the
   * pool side by side; the directory fsync is shared with the messages that
   * finish at the same time.
   */
  async commit(envelope: Omit<Envelope, 'size' | 'id'>, opts: { edit?: HeaderEdit; area?: SpoolArea } = {}): Promise<Envelope> {
    if (this.done) throw new Error('spool writer already finished');
    if (opts.edit && !isEmptyEdit(opts.edit)) await this.applyEdit(opts.edit);
    const [fd, ef] = await Promise.all([this.messageFd, this.envelopeFd]);
    if (this.pendingBytes > 0) writeAllSync(fd, this.takePending());
    const full: Envelope = { ...envelope, id: this.id, size: this.written };
    writeAllSync(ef, Buffer.from(JSON.stringify(full, null, 1) + '\n'));
    const results = await Promise.allSettled([fsyncAsync(fd), fsyncAsync(ef)]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    this.done = true;
    closeSync(fd);
    closeSync(ef);
    const area = opts.area ?? 'queue';
    const dir = this.spool.dir(area);
    // Message first, envelope last: the envelope's rename is the commit point.
    renameSync(this.tmpMessage, join(dir, `${this.id}.eml`));
    renameSync(this.tmpEnvelope, join(dir, `${this.id}.json`));
    await this.spool.syncDir(area);
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
