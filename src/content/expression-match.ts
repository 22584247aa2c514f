// Runs the content rules' header and body expressions off the main thread,
// bounded in time. One long-lived worker (expression-worker.ts), started on
// the first message that has such rules; messages take turns in it. When one
// message's matching runs past the bound (an expression backtracking on a
// crafted text), the worker is terminated (that interrupts a running
// RegExp), the message gets ExpressionTimeout (the check answers 451, fail
// closed), and the next message starts a fresh worker. The daemon's event
// loop never runs a rule expression on mail.

import { Worker } from 'node:worker_threads';
import type { ExpressionJob, WorkerMessage } from './expression-types.ts';
import { siblingUrl } from '../core/sibling.ts';

/** How long one message's header and body expressions may run together. */
export const EXPRESSION_TIMEOUT_MS = 1000;
/** How long a (new) worker may take to begin a job: its start-up, not the expressions, which the bound above times. */
const START_TIMEOUT_MS = 30_000;

/** The matching of a message ran past the bound; `rule` is the rule whose expression was running. */
export class ExpressionTimeout extends Error {
  readonly rule: string;
  readonly ms: number;
  constructor(rule: string, ms: number) {
    super(`the expression of content rule ${rule} ran over ${ms} ms`);
    this.name = 'ExpressionTimeout';
    this.rule = rule;
    this.ms = ms;
  }
}

export interface ExpressionResult {
  readonly headers: Record<string, number>;
  readonly bodies: Record<string, number[]>;
}

let worker: Worker | null = null;
let nextId = 1;
// Messages take turns: a slow one must not eat the time bound of another.
let queue: Promise<unknown> = Promise.resolve();

function started(): Worker {
  if (worker) return worker;
  const w = new Worker(siblingUrl(import.meta.url, 'expression-worker'));
  // An idle worker keeps no process alive (the CLI's `content test` exits).
  w.unref();
  w.on('error', () => {
    if (worker === w) worker = null;
  });
  w.on('exit', () => {
    if (worker === w) worker = null;
  });
  worker = w;
  return w;
}

/** Runs a job in the worker, at most `timeoutMs`; rejects with ExpressionTimeout past it, or with the worker's error. */
export function runExpressions(job: Omit<ExpressionJob, 'id'>, timeoutMs = EXPRESSION_TIMEOUT_MS): Promise<ExpressionResult> {
  const turn = queue.then(() => runOne(job, timeoutMs));
  queue = turn.catch(() => undefined);
  return turn;
}

function runOne(job: Omit<ExpressionJob, 'id'>, timeoutMs: number): Promise<ExpressionResult> {
  if (job.headers.length === 0 && job.bodies.length === 0) return Promise.resolve({ headers: {}, bodies: {} });
  const w = started();
  const id = nextId++;
  let rule = job.headers[0]?.rule ?? job.bodies[0]!.rule;
  return new Promise<ExpressionResult>((resolve, reject) => {
    let timer: NodeJS.Timeout;
    const bound = (ms: number, startup: boolean): NodeJS.Timeout =>
      setTimeout(() => {
        finish();
        if (worker === w) worker = null;
        void w.terminate();
        reject(startup ? new Error(`content expression worker did not start within ${ms} ms`) : new ExpressionTimeout(rule, ms));
      }, ms);
    let begun = false;
    const finish = (): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
      w.unref();
    };
    const onMessage = (m: WorkerMessage): void => {
      if (m.id !== id) return;
      if (m.kind === 'start') {
        rule = m.rule;
        // The clock of the expressions starts when the worker begins them (a fresh worker takes a while to load).
        if (!begun) {
          begun = true;
          clearTimeout(timer);
          timer = bound(timeoutMs, false);
        }
      }
      else if (m.kind === 'done') {
        finish();
        resolve({ headers: m.headers, bodies: m.bodies });
      } else {
        finish();
        reject(new Error(`content expression worker: ${m.message}`));
      }
    };
    const onError = (err: Error): void => {
      finish();
      reject(err);
    };
    const onExit = (code: number): void => {
      finish();
      reject(new Error(`content expression worker exited (${code})`));
    };
    timer = bound(START_TIMEOUT_MS, true);
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
    // Held while a message waits on it.
    w.ref();
    w.postMessage({ ...job, id });
  });
}
