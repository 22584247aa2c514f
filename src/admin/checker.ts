// Where the expensive half of a settings change (prepare.ts) runs. The CLI
// runs it in its own process (InlineChecker); the daemon's admin API hands it
// to one worker thread (WorkerChecker), so that validating a large document
// costs the event loop — and with it every SMTP session — only the copying of
// the document to the thread. Jobs run one at a time, in order; a bounded
// number may wait, beyond which the caller is told to come back later.

import { Worker } from 'node:worker_threads';
import type { Settings } from '../config/document.ts';
import type { Change } from '../config/diff.ts';
import { diffDocuments, parseDocumentBody, prepare, type PasswordRule, type Prepared } from './prepare.ts';
import { siblingUrl } from '../core/sibling.ts';

/** The document a change is made against: the active revision (null: a fresh store). */
export interface Base {
  revision: number | null;
  settings: Settings | null;
}

/** What a check answers, as JSON text: `all` {ok, errors, warnings, changes}; `diff` {ok, changes}. */
export type CheckView = 'all' | 'diff';

export interface Checker {
  prepare(raw: unknown, base: Base, rule: PasswordRule): Promise<Prepared>;
  /**
   * A check (nothing applied) of a request body still in its JSON text
   * (parseDocumentBody; a bad body is answered with its errors), answered as
   * JSON text serialised where it was made: the answer for a large document
   * is larger still (a change per object), and text costs the caller a copy,
   * not a parse or a rebuild.
   */
  checkBodyText(text: string, base: Base, view: CheckView): Promise<BodyCheck>;
  diff(a: Settings, b: Settings): Promise<Change[]>;
  close(): Promise<void>;
}

/** Too many checks waiting already: try again shortly (503 on the API). */
export class CheckerBusy extends Error {
  constructor() {
    super('the settings checker is busy; try again in a moment');
    this.name = 'CheckerBusy';
  }
}

export type BodyCheck = { ok: true; json: string } | { ok: false; errors: string[] };

/** The answer of a check as the API sends it. */
export function checkText(p: Prepared, view: CheckView): string {
  return JSON.stringify(view === 'diff' ? { ok: p.ok, changes: p.changes } : { ok: p.ok, errors: p.errors, warnings: p.warnings, changes: p.changes });
}

export function checkBody(text: string, base: Settings | null, view: CheckView): BodyCheck {
  const body = parseDocumentBody(text);
  return body.ok ? { ok: true, json: checkText(prepare(body.document, base, 'refuse'), view) } : body;
}

export const inlineChecker: Checker = {
  prepare: async (raw, base, rule) => prepare(raw, base.settings, rule),
  checkBodyText: async (text, base, view) => checkBody(text, base.settings, view),
  diff: async (a, b) => diffDocuments(a, b),
  close: async () => {},
};

/** Messages to the worker; `base.settings` is left out when the worker has that revision already. */
export type WorkerJob =
  | { id: number; op: 'prepare'; raw: unknown; base: { revision: number | null; settings?: Settings | null }; rule: PasswordRule; view?: CheckView }
  | { id: number; op: 'diff'; a: Settings; b: Settings };
export type WorkerAnswer = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class WorkerChecker implements Checker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** The base revision the worker holds (undefined: none yet). */
  private workerHas: number | null | undefined = undefined;
  private readonly maxPending: number;

  constructor(opts: { maxPending?: number } = {}) {
    this.maxPending = opts.maxPending ?? 8;
  }

  prepare(raw: unknown, base: Base, rule: PasswordRule): Promise<Prepared> {
    return this.send((id) => this.prepareJob(id, raw, base, rule)) as Promise<Prepared>;
  }

  checkBodyText(text: string, base: Base, view: CheckView): Promise<BodyCheck> {
    return this.send((id) => ({ ...this.prepareJob(id, text, base, 'refuse'), view })) as Promise<BodyCheck>;
  }

  private prepareJob(id: number, raw: unknown, base: Base, rule: PasswordRule): WorkerJob {
    const known = this.workerHas === base.revision;
    this.workerHas = base.revision;
    return { id, op: 'prepare', raw, base: known ? { revision: base.revision } : { revision: base.revision, settings: base.settings }, rule };
  }

  diff(a: Settings, b: Settings): Promise<Change[]> {
    return this.send((id) => ({ id, op: 'diff', a, b })) as Promise<Change[]>;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private send(job: (id: number) => WorkerJob): Promise<unknown> {
    if (this.pending.size >= this.maxPending) return Promise.reject(new CheckerBusy());
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage(job(id));
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // A runaway document must not take the daemon's memory with it.
    const w = new Worker(siblingUrl(import.meta.url, 'check-worker'), { resourceLimits: { maxOldGenerationSizeMb: 512 } });
    w.unref();
    w.on('message', (a: WorkerAnswer) => {
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      if (a.ok) p.resolve(a.value);
      else p.reject(new Error(a.error));
    });
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.workerHas = undefined;
      for (const p of this.pending.values()) p.reject(new Error(`the settings check failed: ${err.message}`));
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`worker exited (${code})`)));
    this.worker = w;
    this.workerHas = undefined;
    return w;
  }
}
