// When to try a deferred recipient again: exponential back-off from
// queue.retry.first, doubling per failed attempt up to queue.retry.max, with
// ±10 % jitter so that a destination that comes back is not hit by every
// message at the same instant; never past the message's lifetime, so that the
// last attempt happens at expiry and then the message bounces. Pure.

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
