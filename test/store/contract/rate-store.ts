// The RateStore contract (src/limits/rate-store.ts): adds are summed per
// bucket and window and answered with the totals after; a zero add reads;
// current() lists the windows not ended; prune drops ended ones; adds from
// several writers at once are all counted (a cluster's nodes).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RateStore } from '../../../src/limits/rate-store.ts';
import type { Factory } from './types.ts';

const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 3_600_000);
const H = 3_600_000;

export function rateStoreContract(name: string, make: Factory<RateStore>): void {
  describe(`RateStore contract: ${name}`, () => {
    test('sums adds per bucket and window, answers totals in the order asked, reads with a zero add', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.deepEqual(await store.add([]), []);
      const a = { bucket: 'messages|user|alice|1h', start: T0, end: T0 + H };
      const b = { bucket: 'messages|client|192.0.2.1|1h', start: T0, end: T0 + H };
      assert.deepEqual(await store.add([{ ...a, count: 3 }, { ...b, count: 1 }]), [{ ...a, count: 3 }, { ...b, count: 1 }]);
      assert.deepEqual(await store.add([{ ...b, count: 2 }, { ...a, count: 4 }]), [{ ...b, count: 3 }, { ...a, count: 7 }]);
      assert.deepEqual(await store.add([{ ...a, count: 0 }]), [{ ...a, count: 7 }], 'a zero add reads');
      const next = { ...a, start: T0 + H, end: T0 + 2 * H };
      assert.deepEqual(await store.add([{ ...next, count: 1 }]), [{ ...next, count: 1 }], 'the next window starts from zero');
    });

    test('a zero add of a bucket never counted reads 0 and stores no row (a bucket only looked at costs nothing)', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const a = { bucket: 'messages|sender_domain|d1.example|1d', start: T0, end: T0 + H };
      const b = { bucket: 'messages|sender_domain|d2.example|1d', start: T0, end: T0 + H };
      assert.deepEqual(await store.add([{ ...a, count: 0 }, { ...b, count: 2 }, { ...a, count: 0 }]), [{ ...a, count: 0 }, { ...b, count: 2 }, { ...a, count: 0 }]);
      assert.deepEqual(await store.current(0), [{ ...b, count: 2 }], 'only the counted bucket has a row');
    });

    test('lists the windows not ended and prunes the ended ones', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const old = { bucket: 'recipients|group|sales|1h', start: T0, end: T0 + H, count: 5 };
      const live = { bucket: 'recipients|group|sales|1h', start: T0 + H, end: T0 + 2 * H, count: 2 };
      const day = { bucket: 'messages|sender_domain|example.org|1d', start: T0 - (T0 % 86_400_000), end: T0 - (T0 % 86_400_000) + 86_400_000, count: 9 };
      await store.add([old, live, day]);
      const now = T0 + H + 1;
      const cur = (await store.current(now)).sort((x, y) => x.bucket.localeCompare(y.bucket) || x.start - y.start);
      assert.deepEqual(cur, [day, live].sort((x, y) => x.bucket.localeCompare(y.bucket) || x.start - y.start));
      assert.equal(await store.prune(T0 + H + 1), 1);
      assert.equal(await store.prune(T0 + H + 1), 0);
      assert.equal((await store.current(0)).length, 2);
    });

    test('adds made at once are all counted', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const a = { bucket: 'messages|network|office|1m', start: T0, end: T0 + 60_000 };
      await Promise.all(Array.from({ length: 20 }, () => store.add([{ ...a, count: 1 }])));
      assert.deepEqual(await store.add([{ ...a, count: 0 }]), [{ ...a, count: 20 }]);
    });
  });
}
