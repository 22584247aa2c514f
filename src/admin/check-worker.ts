// The worker thread behind WorkerChecker (checker.ts): runs prepare() and
// diffs off the daemon's event loop. It keeps the last base document it was
// sent, so that a revision crosses the thread boundary once, not per check.

import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { Settings } from '../config/document.ts';
import { diffDocuments, prepare } from './prepare.ts';
import { checkBody, type WorkerAnswer, type WorkerJob } from './checker.ts';

// Where CPU is short, the SMTP sessions on the main thread come first: this
// thread runs at a lower priority (Linux: a nice value per thread, found
// through /proc/thread-self). Elsewhere it runs as it is.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
} catch {
  // Not Linux, or not allowed: no harm, only no courtesy.
}

let base: { revision: number | null; settings: Settings | null } | null = null;

parentPort?.on('message', (job: WorkerJob) => {
  let answer: WorkerAnswer;
  try {
    if (job.op === 'prepare') {
      if (job.base.settings !== undefined) base = { revision: job.base.revision, settings: job.base.settings };
      if (!base || base.revision !== job.base.revision) throw new Error(`no base document for revision ${job.base.revision}`);
      const value = job.view ? checkBody(job.raw as string, base.settings, job.view) : prepare(job.raw, base.settings, job.rule);
      answer = { id: job.id, ok: true, value };
    } else {
      answer = { id: job.id, ok: true, value: diffDocuments(job.a, job.b) };
    }
  } catch (err) {
    answer = { id: job.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(answer);
});
