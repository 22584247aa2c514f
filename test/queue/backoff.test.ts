// nextAttempt (src/queue/backoff.ts) on its own: the wait doubles per failed
// attempt from retry.first up to retry.max, with ±10 % jitter (from the random
// source it is given), never lands after the message's expiry (the last
// attempt happens at expiry), and at or after expiry the answer is "expired".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextAttempt, type RetryPolicy } from '../../src/queue/backoff.ts';
import { mulberry32 } from '../support/prng.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

const policy: RetryPolicy = { firstMs: 5 * M, maxMs: H, lifetimeMs: 5 * D };
const received = Date.UTC(2026, 0, 1, 12, 0, 0);
const middle = () => 0.5; // jitter factor exactly 1

function waitOf(p: RetryPolicy, attempts: number, now: number, random: () => number): number {
  const step = nextAttempt(p, attempts, received, now, random);
  assert.equal(step.kind, 'retry', `attempt ${attempts} at +${now - received} ms`);
  return step.kind === 'retry' ? step.at - now : NaN;
}

test('without jitter the wait doubles from first up to max, then stays at max', () => {
  const now = received + M;
  const waits = Array.from({ length: 10 }, (_, i) => waitOf(policy, i + 1, now, middle));
  assert.deepEqual(waits, [5 * M, 10 * M, 20 * M, 40 * M, H, H, H, H, H, H]);
});

test('attempt 0 (or less) waits like the first attempt', () => {
  const now = received + M;
  assert.equal(waitOf(policy, 0, now, middle), 5 * M);
  assert.equal(waitOf(policy, -3, now, middle), 5 * M);
});

test('many attempts: still max, a finite integer time', () => {
  const now = received + M;
  for (const n of [30, 41, 60, 1000, 1e6]) {
    const step = nextAttempt(policy, n, received, now, middle);
    assert.deepEqual(step, { kind: 'retry', at: now + H }, `attempt ${n}`);
  }
});

test('jitter: the extremes of the random source give -10 % and +10 %, capped at max', () => {
  const now = received + M;
  assert.equal(waitOf(policy, 1, now, () => 0), 4.5 * M);
  assert.equal(waitOf(policy, 1, now, () => 0.999999999), Math.round(5 * M * (0.9 + 0.2 * 0.999999999)));
  assert.equal(waitOf(policy, 3, now, () => 0), 18 * M);
  // At max, jitter can only shorten the wait.
  assert.equal(waitOf(policy, 9, now, () => 0), 54 * M);
  assert.equal(waitOf(policy, 9, now, () => 0.999999999), H);
});

test('jitter stays within ±10 % of the nominal wait for any random value, and the time is an integer after now', () => {
  const rand = mulberry32(0x5eed);
  const now = received + 17 * M + 123;
  for (let k = 0; k < 5000; k++) {
    const attempts = 1 + Math.floor(rand() * 12);
    const r = rand();
    const nominal = Math.min(policy.maxMs, policy.firstMs * 2 ** (attempts - 1));
    const wait = waitOf(policy, attempts, now, () => r);
    assert.ok(Number.isInteger(wait), `wait ${wait} is an integer`);
    assert.ok(wait >= Math.floor(nominal * 0.9) && wait <= Math.ceil(nominal * 1.1), `attempt ${attempts}, random ${r}: ${wait} ms is not within ±10 % of ${nominal}`);
    assert.ok(wait <= policy.maxMs, `attempt ${attempts}: ${wait} ms is over max`);
    assert.ok(wait >= 1);
  }
});

test('jitter spreads: different random values give different times', () => {
  const now = received + M;
  const times = new Set([0, 0.1, 0.25, 0.5, 0.75, 0.9].map((r) => waitOf(policy, 2, now, () => r)));
  assert.equal(times.size, 6);
});

test('the default random source is used when none is given, within the jitter bounds', () => {
  const now = received + M;
  for (let k = 0; k < 200; k++) {
    const step = nextAttempt(policy, 2, received, now);
    assert.equal(step.kind, 'retry');
    if (step.kind === 'retry') assert.ok(step.at - now >= 9 * M && step.at - now <= 11 * M, `${step.at - now}`);
  }
});

test('never after expiry: close to the end of the lifetime the next attempt is at expiry exactly', () => {
  const expiry = received + policy.lifetimeMs;
  for (const left of [1, 10 * S, 4 * M, 30 * M, 59 * M]) {
    const now = expiry - left;
    for (const r of [0, 0.5, 0.999]) {
      const step = nextAttempt(policy, 9, received, now, () => r);
      assert.equal(step.kind, 'retry', `${left} ms before expiry`);
      if (step.kind === 'retry') {
        assert.ok(step.at <= expiry, `${left} ms before expiry: next attempt ${step.at - expiry} ms after expiry`);
        assert.ok(step.at > now, 'after now');
        if (left < 54 * M) assert.equal(step.at, expiry, `${left} ms before expiry (random ${r}): the last attempt is at expiry`);
      }
    }
  }
});

test('never after expiry, over random policies, attempts and times', () => {
  const rand = mulberry32(1234);
  for (let k = 0; k < 5000; k++) {
    const firstMs = 1 + Math.floor(rand() * 10 * M);
    const maxMs = firstMs + Math.floor(rand() * 2 * H);
    const lifetimeMs = 1 + Math.floor(rand() * 3 * H);
    const p = { firstMs, maxMs, lifetimeMs };
    const now = received + Math.floor(rand() * lifetimeMs * 1.2);
    const step = nextAttempt(p, 1 + Math.floor(rand() * 20), received, now, rand);
    const expiry = received + lifetimeMs;
    if (now >= expiry) assert.deepEqual(step, { kind: 'expired' }, `${JSON.stringify(p)} at +${now - received}`);
    else {
      assert.equal(step.kind, 'retry');
      if (step.kind === 'retry') {
        assert.ok(step.at <= expiry && step.at > now, `${JSON.stringify(p)} at +${now - received}: ${step.at - received}`);
        assert.ok(step.at - now <= maxMs, 'never more than max');
      }
    }
  }
});

test('expired at the end of the lifetime and after it, whatever the attempt count', () => {
  const expiry = received + policy.lifetimeMs;
  for (const now of [expiry, expiry + 1, expiry + D, expiry + 365 * D]) {
    for (const attempts of [0, 1, 5, 100]) {
      assert.deepEqual(nextAttempt(policy, attempts, received, now, middle), { kind: 'expired' }, `attempt ${attempts} at expiry + ${now - expiry} ms`);
    }
  }
  assert.equal(nextAttempt(policy, 1, received, expiry - 1, middle).kind, 'retry', 'one millisecond before expiry: still a retry');
});

test('a zero or tiny first wait still moves forward in time', () => {
  const p = { firstMs: 0, maxMs: 0, lifetimeMs: H };
  const now = received + 5;
  const step = nextAttempt(p, 1, received, now, middle);
  assert.deepEqual(step, { kind: 'retry', at: now + 1 });
});

test('pure: the same inputs give the same answer', () => {
  const now = received + 3 * H;
  const a = nextAttempt(policy, 4, received, now, () => 0.3);
  const b = nextAttempt(policy, 4, received, now, () => 0.3);
  assert.deepEqual(a, b);
});
