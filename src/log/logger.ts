// One structured JSON line per event on stdout. Message events carry the
// queue id; decisions carry the rule that decided.

import { fstatSync, write as fsWrite, writeSync } from 'node:fs';

export type LogFields = Record<string, unknown>;

export interface Logger {
  log(event: string, fields?: LogFields): void;
}

/** The line of one event; a bigint (rare) is written as its decimal string. */
export function formatLine(event: string, fields: LogFields, ts: string = new Date().toISOString()): string {
  const record = { ts, event, ...fields };
  try {
    // Without a replacer: stringify is several times faster, and bigints are rare.
    return JSON.stringify(record) + '\n';
  } catch {
    return JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
  }
}

/** A JSON-lines logger, to `write` or else to stdout (see `lineSink`). */
export function jsonLogger(write?: (data: string) => void): Logger {
  const sink = write ?? lineSink(1);
  return {
    log(event, fields = {}) {
      sink(formatLine(event, fields));
    },
  };
}

/** Pending text beyond this is written synchronously: a stalled disk slows the relay rather than filling its memory. */
const MAX_PENDING = 8 * 1024 * 1024;
/** Lines logged within this long of each other go to a file in one write (each write is a thread-pool round: ~12 µs of the event loop). */
const FILE_BATCH_MS = 5;

/**
 * Where log text goes on file descriptor `fd`. To a file, each write would be
 * a synchronous call that waits on the file system's journal, which the
 * spool's fsyncs keep busy: the event loop stalled there (a tenth of the
 * relay's time, measured by bench/). So for a file one write at a time runs
 * in the thread pool, at most one every FILE_BATCH_MS, and the lines logged
 * meanwhile go out together in the next. Pipes and terminals (a service
 * manager, a test) are written at once, line by line, as before: such a write
 * waits on no journal, and a line is then in the pipe before the reply it
 * belongs to is on the wire.
 */
export function lineSink(fd: 1 | 2): (text: string) => void {
  let isFile = false;
  try {
    isFile = fstatSync(fd).isFile();
  } catch {
    // not a file: the stream decides
  }
  if (!isFile) {
    const stream = fd === 1 ? process.stdout : process.stderr;
    return (text) => void stream.write(text);
  }
  let pending = '';
  /** A write is scheduled for the end of this turn of the event loop, or running. */
  let busy = false;
  /** The batch the thread pool is writing, and how much of it is confirmed written. */
  let inFlight: { data: Buffer; done: number } | null = null;
  const next = (): void => {
    inFlight = null;
    if (pending === '') {
      busy = false;
      return;
    }
    const batch = { data: Buffer.from(pending), done: 0 };
    pending = '';
    inFlight = batch;
    writeAll(fd, batch, () => {
      inFlight = null;
      if (pending === '') busy = false;
      else setTimeout(next, FILE_BATCH_MS);
    });
  };
  process.once('exit', () => {
    // The process ends before the pool reports back (a crash, process.exit):
    // the unconfirmed rest of the batch in flight is written again here, then
    // what is pending. A line may then appear twice; none is lost.
    if (inFlight) writeAllSync(fd, inFlight.data.subarray(inFlight.done));
    inFlight = null;
    if (pending !== '') writeAllSync(fd, Buffer.from(pending));
    pending = '';
  });
  return (text) => {
    pending += text;
    if (busy) {
      if (pending.length > MAX_PENDING) {
        // The disk is stalled: wait for it here rather than grow without bound.
        // (This batch may land before the one in flight.)
        writeAllSync(fd, Buffer.from(pending));
        pending = '';
      }
      return;
    }
    // Everything logged in the next few milliseconds goes in one write.
    busy = true;
    setTimeout(next, FILE_BATCH_MS);
  };
}

function writeAll(fd: number, batch: { data: Buffer; done: number }, finished: () => void): void {
  const { data } = batch;
  fsWrite(fd, data, batch.done, data.length - batch.done, null, (err, n) => {
    // A log that cannot be written must not stop mail; the rest of this batch is dropped.
    if (err) return finished();
    batch.done += n;
    if (batch.done >= data.length) finished();
    else writeAll(fd, batch, finished);
  });
}

function writeAllSync(fd: number, data: Buffer): void {
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
  } catch {
    // as above
  }
}

/** A logger that keeps lines in memory (tests) or drops them. */
export function memoryLogger(): Logger & { lines: { event: string; fields: LogFields }[] } {
  const lines: { event: string; fields: LogFields }[] = [];
  return { lines, log: (event, fields = {}) => void lines.push({ event, fields }) };
}

/** A logger that also hands every event to listeners (statistics, the live log of the API). */
export interface TapLogger extends Logger {
  subscribe(listener: (event: string, fields: LogFields, ts: string) => void): () => void;
}

export function tapLogger(inner: Logger): TapLogger {
  const listeners = new Set<(event: string, fields: LogFields, ts: string) => void>();
  return {
    log(event, fields = {}) {
      inner.log(event, fields);
      if (listeners.size === 0) return;
      const ts = new Date().toISOString();
      for (const l of listeners) {
        try {
          l(event, fields, ts);
        } catch {
          // A broken listener must not break mail.
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
