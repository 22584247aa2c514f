// The tracking recorder: listens to the daemon's log events (tapLogger), has
// TrackInterpreter turn them into rows, and hands the rows to the
// TrackingStore in batches, one write (one transaction) every `flushMs`,
// never one per event on the mail path. The rows waiting are bounded: when
// the store is slow or failing, new rows are dropped and counted, and a
// `tracking.dropped` line says how many (at most every DROP_LOG_MS). A batch
// the store could not write because its database is locked by another
// process (TrackingBusyError) is kept for the next try, within the same
// bound; the store fails such a write at once rather than wait. Nothing
// here can affect mail: the listener never throws, and a failed write is a
// log line.

import type { Logger, LogFields } from '../log/logger.ts';
import { TrackInterpreter } from './track-events.ts';
import { TrackingBusyError, type TrackBatch, type TrackingWriter } from './tracking-store.ts';

/** Rows (entries, updates and events) waiting for the store at most; past it new ones are dropped. */
export const MAX_PENDING = 50_000;
const DROP_LOG_MS = 10_000;

export interface RecorderOptions {
  store: TrackingWriter;
  node: string;
  logger: Logger;
  now?: () => number;
  /** Asked for each event: tracking.enabled of the revision in force. */
  enabled?: () => boolean;
  /** How long rows wait to be written together (default 200 ms). */
  flushMs?: number;
  maxPending?: number;
}

const empty = (): TrackBatch => ({ entries: [], updates: [], events: [] });
const size = (b: TrackBatch) => b.entries.length + b.updates.length + b.events.length;

export class TrackingRecorder {
  private readonly o: Required<Omit<RecorderOptions, 'store' | 'logger' | 'node'>> & Pick<RecorderOptions, 'store' | 'logger'>;
  private readonly interpreter: TrackInterpreter;
  private pending: TrackBatch = empty();
  private pendingRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private closed = false;
  /** Rows dropped since the last tracking.dropped line, and why. */
  private dropped = 0;
  private dropReason = '';
  private lastDropLog = 0;
  private lastErrorLog = 0;
  /** Rows written and dropped since the start (tests, metrics). */
  readonly counts = { written: 0, dropped: 0, failedWrites: 0, keptRows: 0 };

  constructor(opts: RecorderOptions) {
    this.o = { now: Date.now, enabled: () => true, flushMs: 200, maxPending: MAX_PENDING, ...opts };
    this.interpreter = new TrackInterpreter(opts.node);
  }

  /** The tap's listener: cheap, synchronous, never throws. */
  observe(event: string, fields: LogFields): void {
    if (this.closed || event.startsWith('tracking.')) return;
    try {
      if (!this.o.enabled()) return;
      const out = empty();
      this.interpreter.take(event, fields, this.o.now(), out);
      const n = size(out);
      if (n === 0) return;
      if (this.pendingRows + n > this.o.maxPending) {
        this.drop(n, 'the tracking store is behind: rows waiting reached the bound');
        return;
      }
      this.pending.entries.push(...out.entries);
      this.pending.updates.push(...out.updates);
      this.pending.events.push(...out.events);
      this.pendingRows += n;
      this.schedule();
    } catch (err) {
      this.drop(1, `cannot read the ${event} line: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private drop(n: number, reason: string): void {
    this.dropped += n;
    this.counts.dropped += n;
    this.dropReason = reason;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.writing || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.o.flushMs);
    this.timer.unref();
  }

  /** Writes what waits now (one batch, one transaction); resolves when it is written or dropped. */
  flush(): Promise<void> {
    if (this.writing) return this.writing.then(() => this.flush());
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.logDrops();
    if (this.pendingRows === 0) return Promise.resolve();
    const batch = this.pending;
    const rows = this.pendingRows;
    this.pending = empty();
    this.pendingRows = 0;
    this.writing = (async () => {
      try {
        await this.o.store.write(batch);
        this.counts.written += rows;
      } catch (err) {
        this.counts.failedWrites++;
        const error = err instanceof Error ? err.message : String(err);
        // Locked by another process: tried again at the next flush, in front of what came meanwhile (entries
        // before the updates that name them), as long as the bound allows; anything else is lost.
        const kept = err instanceof TrackingBusyError && this.pendingRows + rows <= this.o.maxPending;
        if (kept) {
          this.pending = {
            entries: [...batch.entries, ...this.pending.entries],
            updates: [...batch.updates, ...this.pending.updates],
            events: [...batch.events, ...this.pending.events],
          };
          this.pendingRows += rows;
          this.counts.keptRows += rows;
        } else this.drop(rows, `the tracking store failed: ${error}`);
        const now = Date.now();
        if (now - this.lastErrorLog >= DROP_LOG_MS) {
          this.lastErrorLog = now;
          this.log('tracking.error', { error, rows, kept, note: kept ? 'the rows wait for the next try' : 'the rows are lost' });
        }
      } finally {
        this.writing = null;
        if (this.pendingRows > 0 || this.dropped > 0) this.schedule();
      }
    })();
    return this.writing;
  }

  private logDrops(): void {
    if (this.dropped === 0) return;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_MS && !this.closed) return;
    this.lastDropLog = now;
    this.log('tracking.dropped', { rows: this.dropped, reason: this.dropReason, note: 'message tracking lost these rows; mail is not affected' });
    this.dropped = 0;
  }

  private log(event: string, fields: LogFields): void {
    try {
      this.o.logger.log(event, fields);
    } catch {
      // nothing more to do
    }
  }

  /** Writes what waits and stops taking events. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.logDrops();
  }
}
