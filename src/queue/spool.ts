// The spool: where accepted messages wait, in DATA/spool/queue/, one file per
// message: `<id>.msg`, the raw message (our Received header first) followed
// by its envelope and a footer (src/queue/spool-trailer.ts). A message is
// written straight into queue/ (src/queue/spool-writer.ts); the footer,
// written at the final dot and fsynced with a share of a group-committed
// directory fsync, makes it a committed message. Only after commit()
// resolves may the client hear 250.
//
// Later envelope changes (a deferral, a hold, a release) go to `<id>.json`
// beside it (temporary file, fsync, rename, directory fsync), which then
// supersedes the trailer's envelope. The previous version's layout, `<id>.eml`
// with `<id>.json`, is still read, delivered, released and removed; it is
// never written.
//
// Quarantined messages (src/scan) are committed into quarantine/, which the
// queue manager never reads; a release hard-links them into queue/ and
// writes the queue's `<id>.json` (the release's commit point).
//
// At open, the spool recovers from a crash: tmp/ is emptied, a message
// without a complete trailer (never committed) is removed, and a file that
// cannot be read moves to corrupt/ with a log line. Only open() changes
// files: it runs under the data directory's lock, while read() and list()
// are also called by other processes and must change nothing.

import { closeSync, existsSync, fsync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, unlink, writeSync } from 'node:fs';
import { open as openHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { isEnvelope, type Envelope } from './envelope.ts';
import { newQueueId, QUEUE_ID } from './queue-id.ts';
import type { Logger } from '../log/logger.ts';
import { DirSync } from './dir-sync.ts';
import { readSpoolFile } from './spool-file.ts';
import { SpoolWriter } from './spool-writer.ts';
import { SpoolPool } from './spool-pool.ts';

export { SpoolWriter } from './spool-writer.ts';

export type SpoolArea = 'queue' | 'quarantine';

export interface SpooledMessage {
  envelope: Envelope;
  /** The file holding the message: octets [0, size) are the message (a `.msg` file has its trailer after them). */
  messagePath: string;
  size: number;
}

/** What inspect() found: a message, or why not; `uncommitted` when it is a file that was never committed (no complete trailer). */
type Inspected = { ok: true; message: SpooledMessage } | { ok: false; reason: string; uncommitted?: true };

const FILE = /^([0-9a-z]{16})\.(msg|eml|json)$/;
const finished = (e: Envelope): boolean => e.recipients.every((r) => r.status === 'delivered' || r.status === 'failed');

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
  private tmpSeq = 0;
  /** Files made ahead for the next messages (spool-pool.ts); only in a process that writes (open, attach). */
  private pool: SpoolPool | null = null;

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
    this.startPool();
  }

  private startPool(): void {
    this.pool ??= new SpoolPool({ dir: this.queueDir, mark: () => this.queueSync.mark(), sync: () => this.queueSync.sync(), newId: (now) => newQueueId(now) });
  }

  /** Files made ahead and ready now (tests). */
  get readyAhead(): number {
    return this.pool?.count.ready ?? 0;
  }

  /** The queue id for the next message received: one whose file was made ahead when there is one (begin() then uses it). */
  nextId(): string {
    return this.pool?.nextId() ?? newQueueId();
  }

  /** Creates the directories and recovers from an interrupted run (queue/ first: a release's state is decided there). */
  open(): void {
    for (const d of [this.root, this.tmpDir, this.queueDir, this.corruptDir, this.quarantineDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    for (const area of ['queue', 'quarantine'] as const) this.recover(area);
    for (const name of readdirSync(this.tmpDir)) rmSync(join(this.tmpDir, name), { force: true, recursive: true });
    this.startPool();
  }

  private recover(area: SpoolArea): void {
    const dir = this.dir(area);
    const byId = new Map<string, Set<string>>();
    for (const name of readdirSync(dir)) {
      const m = FILE.exec(name);
      if (!m) {
        this.moveCorrupt(area, name, 'unexpected file', [name], true);
        continue;
      }
      const exts = byId.get(m[1] as string) ?? new Set<string>();
      exts.add(m[2] as string);
      byId.set(m[1] as string, exts);
    }
    for (const [id, exts] of byId) {
      const files = [...exts].map((e) => `${id}.${e}`);
      if (area === 'quarantine' && existsSync(join(this.queueDir, `${id}.json`))) {
        // A release that committed before the quarantine's files went.
        for (const f of files) rmSync(join(dir, f), { force: true });
        this.logger.log('spool.release_completed', { id });
        continue;
      }
      if (area === 'queue' && !exts.has('json') && (existsSync(join(this.quarantineDir, `${id}.msg`)) || existsSync(join(this.quarantineDir, `${id}.eml`)))) {
        for (const f of files) rmSync(join(dir, f), { force: true });
        this.logger.log('spool.orphan_removed', { id, area, reason: 'a release that did not commit (the message is still in quarantine)' });
        continue;
      }
      if (!exts.has('msg') && !exts.has('eml')) {
        this.loneEnvelope(area, id);
        continue;
      }
      if (!exts.has('msg') && !exts.has('json')) {
        rmSync(join(dir, `${id}.eml`), { force: true });
        this.logger.log('spool.orphan_removed', { id, area, reason: 'message without envelope: never committed' });
        continue;
      }
      const m = this.inspect(id, area, true);
      if (m.ok) continue;
      if (m.uncommitted && !exts.has('json')) {
        rmSync(join(dir, `${id}.msg`), { force: true });
        this.logger.log('spool.orphan_removed', { id, area, reason: `message without a complete trailer: never committed (${m.reason})` });
      } else {
        this.moveCorrupt(area, id, m.reason, files);
      }
    }
  }

  /** An envelope without its message: an interrupted removal when every recipient is done, else a loss worth a look. */
  private loneEnvelope(area: SpoolArea, id: string): void {
    let env: unknown = null;
    try {
      env = JSON.parse(readFileSync(join(this.dir(area), `${id}.json`), 'utf8'));
    } catch {
      // judged below
    }
    if (isEnvelope(env) && env.id === id && finished(env)) {
      rmSync(join(this.dir(area), `${id}.json`), { force: true });
      this.logger.log('spool.removal_completed', { id, area });
      return;
    }
    this.moveCorrupt(area, id, 'envelope without message', [`${id}.json`]);
  }

  begin(id: string): SpoolWriter {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    return new SpoolWriter(this, id, this.pool?.take(id) ?? null);
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

  /** The queue ids of an area's messages (either layout), sorted; no file is read. */
  ids(area: SpoolArea = 'queue'): string[] {
    const dir = this.dir(area);
    if (!existsSync(dir)) return [];
    const ids = new Set<string>();
    for (const name of readdirSync(dir)) {
      const m = FILE.exec(name);
      if (m && m[2] !== 'json') ids.add(m[1] as string);
    }
    return [...ids].sort();
  }

  /** Every committed message of an area, oldest first; unreadable or uncommitted ones are left out (open() deals with them). */
  list(area: SpoolArea = 'queue'): SpooledMessage[] {
    const out: SpooledMessage[] = [];
    for (const id of this.ids(area)) {
      const m = this.read(id, area);
      if (m) out.push(m);
    }
    return out;
  }

  /**
   * One committed message, or null when it is absent, unreadable, or still
   * arriving. Reading never changes the spool: the API and `queue list` in
   * another process call this without the data directory's lock, and a
   * message that a delivery removed a moment ago is not corrupt. Broken
   * files are moved aside by open(), which runs under the lock.
   */
  read(id: string, area: SpoolArea = 'queue'): SpooledMessage | null {
    const m = this.inspect(id, area, false);
    return m.ok ? m.message : null;
  }

  /** What read() sees, with the reason when it sees no message; `verify` also checks the message's checksum (recovery). */
  private inspect(id: string, area: SpoolArea, verify: boolean): Inspected {
    if (!QUEUE_ID.test(id)) return { ok: false, reason: 'not a queue id' };
    const dir = this.dir(area);
    const messagePath = join(dir, `${id}.msg`);
    const file = readSpoolFile(messagePath, { verifyMessage: verify });
    if (file.ok) {
      const size = file.footer.messageSize;
      const side = readSidecar(join(dir, `${id}.json`));
      if (side !== undefined) {
        if (side === null) return { ok: false, reason: 'envelope is not JSON' };
        if (!isEnvelope(side) || side.id !== id) return { ok: false, reason: 'envelope lacks required fields' };
        if (side.size !== size) return { ok: false, reason: 'message file missing or of the wrong size' };
        return { ok: true, message: { envelope: side, messagePath, size } };
      }
      const env = file.envelope;
      if (!isEnvelope(env)) return { ok: false, reason: 'envelope lacks required fields' };
      // Another id's file (a split's copy) or a quarantined one in queue/ (a release) without its own envelope: not committed here.
      if (env.id !== id || (area === 'queue' && env.quarantine)) return { ok: false, reason: 'a copy whose envelope was never written', uncommitted: true };
      if (env.size !== size) return { ok: false, reason: 'message file missing or of the wrong size' };
      return { ok: true, message: { envelope: env, messagePath, size } };
    }
    if (!file.absent) return { ok: false, reason: file.reason, uncommitted: true };
    return this.inspectEml(id, area);
  }

  /** The previous version's layout: `<id>.eml` (the message alone) and `<id>.json`. */
  private inspectEml(id: string, area: SpoolArea): Inspected {
    const dir = this.dir(area);
    const messagePath = join(dir, `${id}.eml`);
    const envelope = readSidecar(join(dir, `${id}.json`));
    if (envelope === undefined) return { ok: false, reason: 'absent' };
    if (envelope === null) return { ok: false, reason: 'envelope is not JSON' };
    if (!isEnvelope(envelope) || envelope.id !== id) return { ok: false, reason: 'envelope lacks required fields' };
    let size: number;
    try {
      size = statSync(messagePath).size;
    } catch {
      return { ok: false, reason: 'message file missing or of the wrong size' };
    }
    if (size !== envelope.size) return { ok: false, reason: 'message file missing or of the wrong size' };
    return { ok: true, message: { envelope, messagePath, size } };
  }

  /** The message's file name in an area, whichever layout it has (`.msg` unless only an `.eml` exists). */
  private messageFile(id: string, area: SpoolArea): string {
    const dir = this.dir(area);
    return existsSync(join(dir, `${id}.msg`)) || !existsSync(join(dir, `${id}.eml`)) ? `${id}.msg` : `${id}.eml`;
  }

  /** Where a message's octets are (read [0, size): a `.msg` file has its trailer after them). */
  messagePath(id: string, area: SpoolArea = 'queue'): string {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    return join(this.dir(area), this.messageFile(id, area));
  }

  /**
   * Moves a quarantined message into the queue with its new envelope. The
   * message is hard-linked into queue/ (the quarantine keeps its copy), the
   * queue's `<id>.json` is written (the commit point), and only then do the
   * quarantine's files go. A crash before the commit leaves a message in
   * queue/ without its own envelope, which recovery removes: the message is
   * still in quarantine. A crash after it leaves the message in both, and
   * recovery drops the quarantine's copy: the release went through.
   */
  async release(envelope: Envelope): Promise<void> {
    const id = envelope.id;
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    const file = this.messageFile(id, 'quarantine');
    const target = join(this.queueDir, file);
    rmSync(target, { force: true }); // a link left by an earlier release that did not commit
    linkSync(join(this.quarantineDir, file), target);
    await this.update(envelope);
    this.removeQuarantined(id);
    await this.quarantineSync.sync();
  }

  /** Removes a quarantined message (message first, as remove() does). */
  removeQuarantined(id: string): void {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    for (const ext of ['msg', 'eml', 'json']) rmSync(join(this.quarantineDir, `${id}.${ext}`), { force: true });
  }

  /**
   * Writes a committed message's envelope atomically as `<id>.json` beside
   * its message (temporary file, fsync, rename, directory fsync): a crash
   * leaves the old or the new one. It supersedes the trailer's.
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

  /**
   * Splits a quarantined message (QueueStore.splitQuarantined): the released
   * copy first (the quarantined message hard-linked into queue/ under the new
   * id, its `<new id>.json` renamed in: the copy's commit point), then the
   * quarantine's new envelope. A crash before the copy commits leaves a
   * file in queue/ whose trailer names another id (recovery removes it; the
   * share is still in quarantine); a crash after it and before the
   * quarantine's envelope is renamed leaves the share both queued and still
   * listed in quarantine: it is delivered, and could be released a second
   * time. Never lost. The caller serialises changes of one message (one
   * process holds the data directory's lock).
   */
  async splitQuarantined(expected: Envelope, remaining: Envelope, released: Envelope | null): Promise<boolean> {
    const id = remaining.id;
    if (!QUEUE_ID.test(id) || expected.id !== id) throw new Error(`bad queue id ${id}`);
    const now = this.read(id, 'quarantine');
    if (!now || JSON.stringify(now.envelope) !== JSON.stringify(expected)) return false;
    if (released) {
      if (!QUEUE_ID.test(released.id) || released.id === id) throw new Error(`bad queue id ${released.id}`);
      const ext = now.messagePath.endsWith('.eml') ? 'eml' : 'msg';
      const target = join(this.queueDir, `${released.id}.${ext}`);
      rmSync(target, { force: true });
      linkSync(now.messagePath, target);
      await this.update(released, 'queue');
    }
    await this.update(remaining, 'quarantine');
    return true;
  }

  /**
   * Removes a message that is done: the message first, then its `.json` if
   * it has one (the fast path has none: one unlink). A crash between the two
   * leaves an envelope alone, which recovery drops when all its recipients
   * are done (else moves aside). No directory fsync: if the removal is lost
   * in a crash the message is only delivered again (at least once).
   */
  remove(id: string): Promise<void> {
    if (!QUEUE_ID.test(id)) return Promise.reject(new Error(`bad queue id ${id}`));
    const path = (ext: string): string => join(this.queueDir, `${id}.${ext}`);
    // Asynchronous: unlinking a file just written waits on the journal, and
    // the event loop has better things to do meanwhile.
    return new Promise((resolve) => {
      // Most messages never had an envelope of their own beside the file: a stat (no journal) spares the pool a trip.
      const json = (): void => (existsSync(path('json')) ? unlink(path('json'), () => resolve()) : resolve());
      unlink(path('msg'), (err) => (err?.code === 'ENOENT' ? unlink(path('eml'), json) : json()));
    });
  }

  /** Closes the directories' handles; the messages stay as they are, the empty files made ahead go. */
  async close(): Promise<void> {
    this.pool?.close();
    this.pool = null;
    await Promise.all([this.queueSync.close(), this.quarantineSync.close()]);
  }

  /** A mark of an entry just created in an area, for syncedSince(). */
  dirMark(area: SpoolArea): number {
    return area === 'queue' ? this.queueSync.mark() : this.quarantineSync.mark();
  }

  /** Makes an entry created before dirMark() durable: shares any directory fsync that started after it. */
  syncedSince(area: SpoolArea, mark: number): Promise<void> {
    return area === 'queue' ? this.queueSync.covered(mark) : this.quarantineSync.covered(mark);
  }

  /** Makes new entries of an area durable (group commit, see DirSync). */
  syncDir(area: SpoolArea): Promise<void> {
    return area === 'queue' ? this.queueSync.sync() : this.quarantineSync.sync();
  }

  /** The header section of a message (without the blank line), at most `max` octets. */
  async headers(id: string, max = 256 * 1024, area: SpoolArea = 'queue'): Promise<Buffer> {
    if (!QUEUE_ID.test(id)) throw new Error(`bad queue id ${id}`);
    const m = this.read(id, area);
    if (!m) throw Object.assign(new Error(`no message ${id} in ${area}`), { code: 'ENOENT' });
    const fh = await openHandle(m.messagePath, 'r');
    try {
      const len = Math.min(max, m.size);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, 0);
      const data = buf.subarray(0, bytesRead);
      const end = data.indexOf('\r\n\r\n');
      return Buffer.from(end >= 0 ? data.subarray(0, end + 2) : data);
    } finally {
      await fh.close();
    }
  }

  /** Moves the named files of a broken message to corrupt/ (only those: a stray file must not take a good message with it). */
  private moveCorrupt(area: SpoolArea, idOrName: string, reason: string, names: string[], stray = false): void {
    for (const n of names) {
      const from = join(this.dir(area), n);
      if (existsSync(from)) renameSync(from, join(this.corruptDir, area === 'queue' ? n : `quarantine-${n}`));
    }
    this.logger.log('spool.corrupt', { id: idOrName.replace(/\.(msg|eml|json)$/, ''), area, file: stray ? idOrName : undefined, reason, moved_to: this.corruptDir });
  }
}

/** A `.json` envelope: undefined when absent, null when unreadable or not JSON. */
function readSidecar(path: string): unknown {
  // Most messages never have one (delivered at the first attempt): asked without an ENOENT error's stack trace.
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : null;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

const fsyncAsync = promisify(fsync);

function writeAllSync(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}
