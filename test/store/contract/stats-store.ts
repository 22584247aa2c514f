// The StatsStore contract (src/api/stats-store.ts): counts per node and
// minute, replaced when handed in again, summed over nodes, oldest first;
// a node's own minutes read back.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatsStore } from '../../../src/api/stats-store.ts';
import type { MinuteCounts } from '../../../src/api/stats.ts';
import type { Factory } from './types.ts';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const minute = (k: number, n: number): MinuteCounts => ({ minute: new Date(T0 + k * 60_000).toISOString(), accepted: n, relayed: 2 * n, refused: 3 * n, deferred: 4 * n, auth_failed: 5 * n, auth_succeeded: 6 * n, rate_limited: 7 * n });

export function statsStoreContract(name: string, make: Factory<StatsStore>): void {
  describe(`StatsStore contract: ${name}`, () => {
    test('series sums every node per minute, oldest first, from `since`', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.deepEqual(await store.series(T0), []);
      await store.record('a', [minute(1, 1), minute(0, 10)]);
      await store.record('b', [minute(1, 100)]);
      assert.deepEqual(await store.series(T0), [minute(0, 10), minute(1, 101)]);
      assert.deepEqual(await store.series(T0 + 60_000), [minute(1, 101)], 'minutes before `since` are left out');
    });

    test('a minute handed in again replaces that node\'s counts', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.record('a', [minute(0, 1)]);
      await store.record('b', [minute(0, 2)]);
      await store.record('a', [minute(0, 5)]);
      assert.deepEqual(await store.series(T0), [minute(0, 7)]);
      await store.record('a', []);
      assert.deepEqual(await store.series(T0), [minute(0, 7)]);
    });

    test('own gives one node its stored minutes from `since`, oldest first (a restarted node carries on from them)', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.ok(store.own, 'every adapter gives a node its own minutes');
      await store.record('a', [minute(2, 3), minute(0, 1), minute(1, 2)]);
      await store.record('b', [minute(1, 10)]);
      assert.deepEqual(await store.own('a', T0 + 60_000), [minute(1, 2), minute(2, 3)]);
      assert.deepEqual(await store.own('c', T0), []);
    });
  });
}
