// The embedded tracking store's reads, run in a worker thread
// (src/tracking/sqlite-read-worker.ts) with its own SQLite connection: the
// daemon's event loop, which answers mail, waits for no search. Started on
// the first read, unref'd (it keeps no process alive), started again if it
// dies; a call it cannot answer rejects. SQLite's WAL lets the worker read
// while the recorder writes on the main thread.

import { Worker } from 'node:worker_threads';
import { TrackQueryError } from './track-query.ts';
import { siblingUrl } from '../core/sibling.ts';

/** A read that takes longer is abandoned (the worker is restarted): a caller never waits for ever. */
const READ_TIMEOUT_MS = 60_000;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class OffLoopReads {
  private readonly file: string;
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private closed = false;

  constructor(file: string) {
    this.file = file;
  }

  private start(): Worker {
    const w = new Worker(siblingUrl(import.meta.url, 'sqlite-read-worker'), { workerData: { file: this.file } });
    w.unref();
    w.on('message', (m: { id: number; result?: unknown; error?: { name: string; message: string } }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (this.pending.size === 0) w.unref();
      if (m.error) p.reject(m.error.name === 'TrackQueryError' ? new TrackQueryError(m.error.message) : new Error(m.error.message));
      else p.resolve(m.result);
    });
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = null;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(err);
        this.pending.delete(id);
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the tracking reader stopped (exit ${code})`)));
    return w;
  }

  call<T>(method: 'search' | 'timeline' | 'decisions' | 'top', args: unknown[]): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the tracking store is closed'));
    const w = (this.worker ??= this.start());
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the tracking store did not answer within ${READ_TIMEOUT_MS / 1000} s`));
        if (this.worker === w) this.worker = null;
        void w.terminate();
      }, READ_TIMEOUT_MS);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      // Referenced while a call waits: a CLI process waits for its answer.
      w.ref();
      w.postMessage({ id, method, args });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
