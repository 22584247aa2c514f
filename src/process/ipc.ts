// The messages between the primary and its SMTP worker processes (over the
// IPC channel of child_process.fork, structured-clone serialisation), and the
// request/response layer a worker uses to ask the primary (the auth throttle,
// the rate limits, the sender lists, the greylist, a proxied client's
// connection slot). Every request has a timeout: a primary that does not
// answer makes the request reject, and the caller fails closed (a 4xx).

import type { Envelope } from '../queue/envelope.ts';
import type { ListenerDef } from '../config/document.ts';
import type { TlsMaterial } from '../smtp/tls.ts';

/** What the worker needs to start: the primary sends it first. */
export interface WorkerInit {
  t: 'init';
  /** The worker's number (1, 2, ...). */
  n: number;
  dataDir: string;
  /** The listeners as this node binds them (after --listen). */
  listeners: ListenerDef[];
  tls: TlsMaterial;
}

export type ToWorker =
  | WorkerInit
  /** A connection accepted (and counted) by the primary, sent with the socket as the handle. */
  | { t: 'conn'; id: number; listener: string }
  | { t: 'res'; rid: number; ok: true; value: unknown }
  | { t: 'res'; rid: number; ok: false; error: string }
  /** A revision was applied: read it now rather than at the next poll. */
  | { t: 'revision' }
  /** Stop: let the DATA commits in flight finish (up to graceMs), 421 to the rest, exit. */
  | { t: 'stop'; graceMs: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'log'; event: string; fields: Record<string, unknown> }
  /** A handed connection closed (or was let go): its slots are free. */
  | { t: 'closed'; id: number }
  /** Every SAMPLE_MS: the worker's event-loop utilisation since its last report. */
  | { t: 'load'; elu: number }
  /** A message committed (durable) in the worker: the primary delivers it. */
  | { t: 'queued'; envelope: Envelope }
  | { t: 'req'; rid: number; op: string; args: unknown[] }
  /** The last message of a stopping worker: everything it sent before has been written. */
  | { t: 'bye' }
  /** Fire and forget (rate counts at a commit). */
  | { t: 'note'; op: string; args: unknown[] }
  /** What the worker sent during one turn of its event loop, in order: one IPC message (one write) instead of several. */
  | { t: 'batch'; items: FromWorker[] };

/** How long a worker waits for the primary's answer before failing closed. */
export const REQUEST_TIMEOUT_MS = 5_000;
/** Requests outstanding at most: beyond, a request fails at once (never unbounded memory). */
export const MAX_PENDING = 20_000;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** The worker's side of requests: send() is the channel, answer() gets the primary's `res` messages. */
export class Requester {
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private readonly send: (m: FromWorker) => boolean;
  private readonly timeoutMs: number;

  constructor(send: (m: FromWorker) => boolean, timeoutMs = REQUEST_TIMEOUT_MS) {
    this.send = send;
    this.timeoutMs = timeoutMs;
  }

  request<T>(op: string, ...args: unknown[]): Promise<T> {
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new Error(`too many requests to the primary process outstanding (${op})`));
    const rid = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new Error(`the primary process did not answer ${op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer });
      let sent = false;
      try {
        sent = this.send({ t: 'req', rid, op, args });
      } catch {
        sent = false;
      }
      if (!sent) this.fail(rid, new Error(`the primary process is gone (${op})`));
    });
  }

  answer(m: Extract<ToWorker, { t: 'res' }>): void {
    const p = this.pending.get(m.rid);
    if (!p) return;
    this.pending.delete(m.rid);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(m.error));
  }

  /** The channel is gone: every request outstanding fails now. */
  failAll(reason: string): void {
    for (const rid of [...this.pending.keys()]) this.fail(rid, new Error(reason));
  }

  private fail(rid: number, err: Error): void {
    const p = this.pending.get(rid);
    if (!p) return;
    this.pending.delete(rid);
    clearTimeout(p.timer);
    p.reject(err);
  }
}
