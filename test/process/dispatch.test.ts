// The pure decisions of src/process: which process serves a connection
// (dispatch.ts) and when `processes: auto` starts or stops a worker (autoscale.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseProcess, costOf, PRIMARY_WEIGHT, SATURATED_ELU } from '../../src/process/dispatch.ts';
import { decideScale, IDLE_STOP_MS, START_COOLDOWN_MS, START_IDLE_CORES, START_ELU, STOP_ELU, WINDOW, windowMean, workerBounds, type ScaleInput } from '../../src/process/autoscale.ts';

const p = (id: number, sessions: number, elu = 0, ready = true) => ({ id, sessions, elu, ready });

test('dispatch: the primary alone serves everything', () => {
  assert.equal(chooseProcess([p(0, 0)]), 0);
  assert.equal(chooseProcess([p(0, 500, 0.99)]), 0);
  assert.equal(chooseProcess([]), 0);
});

test('dispatch: an idle worker is preferred to an idle primary (the primary also delivers)', () => {
  assert.equal(chooseProcess([p(0, 0), p(1, 0)]), 1);
  assert.ok(PRIMARY_WEIGHT > 1);
});

test('dispatch: fewest sessions, the primary weighted', () => {
  // 2 on the primary cost (3 * 1.5) = 4.5; 3 on the worker cost 4.
  assert.equal(chooseProcess([p(0, 2), p(1, 3)]), 1);
  // 4 on the worker cost 5 > 4.5.
  assert.equal(chooseProcess([p(0, 2), p(1, 4)]), 0);
  assert.equal(chooseProcess([p(0, 10), p(1, 3), p(2, 2)]), 2);
});

test('dispatch: a busy loop costs more; a saturated process gets a connection only when all are', () => {
  assert.equal(chooseProcess([p(0, 1), p(1, 1, 0.9)]), 0);
  assert.equal(chooseProcess([p(0, 0), p(1, 0, SATURATED_ELU)]), 0);
  assert.equal(chooseProcess([p(0, 5, 0.99), p(1, 1, 0.97)]), 1);
  assert.equal(chooseProcess([p(0, 0, 0.99), p(1, 5, 0.97)]), 0);
  assert.ok(costOf(p(1, 0, SATURATED_ELU)) > costOf(p(0, 1000, 0.9)));
});

test('dispatch: a worker not ready gets nothing; ties go to the lower id', () => {
  assert.equal(chooseProcess([p(0, 3), p(1, 0, 0, false)]), 0);
  assert.equal(chooseProcess([p(0, 9), p(2, 0), p(1, 0)]), 1);
  // The primary is a candidate even when its entry says it is not ready.
  assert.equal(chooseProcess([p(0, 0, 0, false), p(1, 0, 0, false)]), 0);
});

const samples = (v: number, n = WINDOW) => Array.from({ length: n }, () => v);
const base = (x: Partial<ScaleInput>): ScaleInput => ({ now: 1_000_000, primaryElu: samples(0), workers: [], maxWorkers: 1, lastStart: 0, changing: false, idleCores: samples(1), ...x });

test('autoscale: a window not yet full decides nothing', () => {
  assert.equal(windowMean(samples(1, WINDOW - 1)), null);
  assert.deepEqual(decideScale(base({ primaryElu: samples(1, WINDOW - 1) })), { kind: 'none' });
  assert.equal(windowMean([0, 0, 0, 1, 1, 1, 1].slice(-WINDOW - 2)), 1);
});

test('autoscale: sustained load starts a worker; idle (however many connections) does not', () => {
  assert.deepEqual(decideScale(base({ primaryElu: samples(START_ELU) })), { kind: 'start' });
  assert.deepEqual(decideScale(base({ primaryElu: samples(START_ELU - 0.01) })), { kind: 'none' });
  // One busy sample in an idle window is not load.
  assert.deepEqual(decideScale(base({ primaryElu: [0.1, 0.1, 0.1, 1] })), { kind: 'none' });
  assert.deepEqual(decideScale(base({ primaryElu: samples(0.02) })), { kind: 'none' });
});

test('autoscale: no worker when the machine has no core to spare (it would only add its overhead)', () => {
  const busy = { primaryElu: samples(0.9) };
  assert.deepEqual(decideScale(base({ ...busy, idleCores: samples(START_IDLE_CORES) })), { kind: 'start' });
  assert.deepEqual(decideScale(base({ ...busy, idleCores: samples(START_IDLE_CORES - 0.01) })), { kind: 'none' });
  // A window of idle CPU not yet full decides nothing.
  assert.deepEqual(decideScale(base({ ...busy, idleCores: samples(1, WINDOW - 1) })), { kind: 'none' });
});

test('autoscale: not beyond cores - 1, not during a start, not within the cooldown', () => {
  const busy = { primaryElu: samples(0.9) };
  assert.deepEqual(decideScale(base({ ...busy, maxWorkers: 0 })), { kind: 'none' });
  assert.deepEqual(decideScale(base({ ...busy, changing: true })), { kind: 'none' });
  assert.deepEqual(decideScale(base({ ...busy, lastStart: 1_000_000 - START_COOLDOWN_MS + 1 })), { kind: 'none' });
  assert.deepEqual(decideScale(base({ ...busy, lastStart: 1_000_000 - START_COOLDOWN_MS })), { kind: 'start' });
  const w = { id: 1, sessions: 5, idleSince: null, elu: samples(0.9) };
  assert.deepEqual(decideScale(base({ ...busy, workers: [w], maxWorkers: 1 })), { kind: 'none' });
  assert.deepEqual(decideScale(base({ ...busy, workers: [w], maxWorkers: 2 })), { kind: 'start' });
  // The mean over every process decides: a busy primary with an idle worker has room.
  assert.deepEqual(decideScale(base({ ...busy, workers: [{ ...w, elu: samples(0.1) }], maxWorkers: 2 })), { kind: 'none' });
  // A worker without a full window is new: wait for it.
  assert.deepEqual(decideScale(base({ ...busy, workers: [{ ...w, elu: [0.9] }], maxWorkers: 2 })), { kind: 'none' });
});

test('autoscale: a worker idle long enough stops when the rest have room, the longest idle first', () => {
  const now = 1_000_000;
  const idle = (id: number, since: number) => ({ id, sessions: 0, idleSince: since, elu: samples(0.01) });
  assert.deepEqual(decideScale(base({ now, workers: [idle(1, now - IDLE_STOP_MS)] })), { kind: 'stop', id: 1 });
  assert.deepEqual(decideScale(base({ now, workers: [idle(1, now - IDLE_STOP_MS + 1)] })), { kind: 'none' });
  assert.deepEqual(decideScale(base({ now, maxWorkers: 3, workers: [idle(1, now - IDLE_STOP_MS - 5), idle(2, now - IDLE_STOP_MS - 50)] })), { kind: 'stop', id: 2 });
  // Sessions open: not idle, whatever the time.
  assert.deepEqual(decideScale(base({ now, workers: [{ ...idle(1, now - 10 * IDLE_STOP_MS), sessions: 1 }] })), { kind: 'none' });
  // The others busy: kept.
  assert.deepEqual(decideScale(base({ now, primaryElu: samples(STOP_ELU * 2 + 0.1), workers: [idle(1, now - IDLE_STOP_MS)] })), { kind: 'none' });
});

test('workerBounds: N is the primary and N-1 workers; auto starts none, up to cores - 1', () => {
  assert.deepEqual(workerBounds(1, 8), { initial: 0, max: 0, auto: false });
  assert.deepEqual(workerBounds(3, 2), { initial: 2, max: 2, auto: false });
  assert.deepEqual(workerBounds('auto', 2), { initial: 0, max: 1, auto: true });
  assert.deepEqual(workerBounds('auto', 1), { initial: 0, max: 0, auto: true });
});
