// The worker thread that runs the content rules' header and body
// expressions (expression-match.ts starts it). An expression the validation
// let through can still backtrack for minutes on a crafted message; here it
// blocks this thread only, and the main thread ends the worker when a
// message's matching takes too long. Before each rule it says which rule it
// starts, so that a timeout names the rule whose expression hung.

import { parentPort } from 'node:worker_threads';
import { RULE_REGEX_FLAGS } from './rule-regex.ts';
import type { ExpressionJob, WorkerMessage } from './expression-types.ts';

const port = parentPort;
if (!port) throw new Error('expression-worker.ts runs as a worker thread only');

// Compiled once per source; bounded, as the rules of a snapshot are.
const cache = new Map<string, RegExp>();
function compiled(source: string): RegExp {
  let re = cache.get(source);
  if (!re) {
    if (cache.size >= 1000) cache.clear();
    re = new RegExp(source, RULE_REGEX_FLAGS);
    cache.set(source, re);
  }
  return re;
}

port.on('message', (job: ExpressionJob) => {
  const send = (m: WorkerMessage): void => port.postMessage(m);
  try {
    const headers: Record<string, number> = {};
    const bodies: Record<string, number[]> = {};
    for (const h of job.headers) {
      send({ id: job.id, kind: 'start', rule: h.rule });
      const re = compiled(h.source);
      const i = h.values.findIndex((v) => re.test(v));
      if (i >= 0) headers[h.rule] = i;
    }
    for (const b of job.bodies) {
      send({ id: job.id, kind: 'start', rule: b.rule });
      const re = compiled(b.source);
      const hit: number[] = [];
      job.texts.forEach((t, i) => {
        if (re.test(t)) hit.push(i);
      });
      if (hit.length) bodies[b.rule] = hit;
    }
    send({ id: job.id, kind: 'done', headers, bodies });
  } catch (err) {
    send({ id: job.id, kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
