// When to try a deferred recipient again: exponential back-off from
// queue.retry.first, doubling per failed attempt up to queue.retry.max, with
// ±10 % jitter so that a destination that comes back is not hit by every
// message at the same instant; never past the message's lifetime, so that the
// last attempt happens at expiry and then the message bounces. Also how an
// attempt's per-recipient outcomes are written into the envelope. Pure.

import { durationMs } from '../core/duration.ts';
import type { QueueSettings } from '../config/document.ts';
import type { RecipientOutcome } from '../delivery/outcome.ts';
import type { Envelope, EnvelopeRecipient } from './envelope.ts';

export interface RetryPolicy {
  firstMs: number;
  maxMs: number;
  lifetimeMs: number;
}

export type NextStep = { kind: 'retry'; at: number } | { kind: 'expired' };

/** `attempts`: failed attempts so far, this one included (1 after the first failure). */
export function nextAttempt(policy: RetryPolicy, attempts: number, receivedAt: number, now: number, random: () => number = Math.random): NextStep {
  const expiry = receivedAt + policy.lifetimeMs;
  if (now >= expiry) return { kind: 'expired' };
  const exp = Math.min(Math.max(attempts - 1, 0), 40);
  const base = Math.min(policy.maxMs, policy.firstMs * 2 ** exp);
  const jittered = Math.min(policy.maxMs, Math.round(base * (0.9 + 0.2 * random())));
  return { kind: 'retry', at: Math.min(now + Math.max(jittered, 1), expiry) };
}

/** The retry policy of the settings. */
export function retryPolicy(q: QueueSettings): RetryPolicy {
  return { firstMs: durationMs(q.retry.first), maxMs: durationMs(q.retry.max), lifetimeMs: durationMs(q.lifetime) };
}

/**
 * Records one recipient's outcome of an attempt in its envelope entry:
 * attempts, last answer, and its new status: delivered, failed, or deferred
 * with its next attempt (failed once the message's lifetime is over).
 * Returns whether the recipient reached a final state.
 */
export function recordOutcome(r: EnvelopeRecipient, o: RecipientOutcome, receivedAt: number, policy: RetryPolicy, now: number, random: () => number): boolean {
  r.attempts = (r.attempts ?? 0) + 1;
  r.last_error = o.fate === 'delivered' ? undefined : o.diagnostic;
  r.last_status = o.status;
  // Whether last_error is a next hop's reply (smtp) or our own words (x-mailwarden) in a notification.
  if (o.code !== null) r.last_code = o.code;
  else delete r.last_code;
  if (o.remote) r.remote = o.remote;
  let fate = o.fate;
  if (fate === 'deferred') {
    const step = nextAttempt(policy, r.attempts, receivedAt, now, random);
    if (step.kind === 'retry') {
      r.next_attempt = new Date(step.at).toISOString();
    } else {
      fate = 'failed';
      r.last_status = '4.4.7';
      delete r.last_code;
      r.last_error = `message expired in the queue after ${r.attempts} attempts; last error: ${o.diagnostic}`;
    }
  }
  r.status = fate;
  if (r.last_error === undefined) delete r.last_error;
  if (fate === 'deferred') return false;
  delete r.next_attempt;
  r.done_at = new Date(now).toISOString();
  return true;
}

/** Fails every pending recipient (an admin's bounce); returns those it failed. */
export function failPending(env: Envelope, why: string, now: number): EnvelopeRecipient[] {
  const out: EnvelopeRecipient[] = [];
  for (const r of env.recipients) {
    if (r.status !== 'queued' && r.status !== 'deferred') continue;
    r.status = 'failed';
    r.last_status = '5.0.0';
    r.last_error = why;
    delete r.last_code;
    delete r.next_attempt;
    r.done_at = new Date(now).toISOString();
    out.push(r);
  }
  return out;
}
