// The GreylistStore contract (src/antispam/greylist-store.ts): the verdicts of
// decideGreylist, stored; prune; and atomic checks (several at once on one
// triplet after the delay: exactly one is the first pass).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GreylistStore } from '../../../src/antispam/greylist-store.ts';
import type { GreylistTimes } from '../../../src/antispam/greylist.ts';
import type { Factory } from './types.ts';

const T: GreylistTimes = { delayMs: 300_000, expiryMs: 4 * 3_600_000, lifetimeMs: 36 * 86_400_000 };
const T0 = 1_800_000_000_000;
const KEY = 'v4:c000021/24 a@example.net b@example.org';

export function greylistStoreContract(name: string, make: Factory<GreylistStore>): void {
  describe(`GreylistStore contract: ${name}`, () => {
    test('first attempt refused; a retry after the delay passes; then the triplet is known', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.deepEqual(await store.check(KEY, T0, T), { pass: false, retryInMs: T.delayMs });
      assert.deepEqual(await store.check(KEY, T0 + 60_000, T), { pass: false, retryInMs: T.delayMs - 60_000 }, 'a retry too soon keeps the first time');
      assert.deepEqual(await store.check(KEY, T0 + T.delayMs, T), { pass: true, known: false });
      assert.deepEqual(await store.check(KEY, T0 + T.delayMs + 1, T), { pass: true, known: true });
      assert.deepEqual(await store.check('v4:c000021/24 a@example.net c@example.org', T0 + T.delayMs, T), { pass: false, retryInMs: T.delayMs }, 'another triplet is unknown');
    });

    test('a retry after the expiry starts over; a known triplet is forgotten after its lifetime', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.check(KEY, T0, T);
      assert.deepEqual(await store.check(KEY, T0 + T.expiryMs + 1, T), { pass: false, retryInMs: T.delayMs });
      const t1 = T0 + T.expiryMs + 1 + T.delayMs;
      assert.deepEqual(await store.check(KEY, t1, T), { pass: true, known: false });
      assert.deepEqual(await store.check(KEY, t1 + T.lifetimeMs, T), { pass: true, known: true }, 'within the lifetime of the last message');
      assert.deepEqual(await store.check(KEY, t1 + 2 * T.lifetimeMs + 1, T), { pass: false, retryInMs: T.delayMs });
    });

    test('prune drops what can no longer matter and keeps the rest', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.check('old-pending', T0, T);
      await store.check('passed', T0, T);
      await store.check('passed', T0 + T.delayMs, T);
      await store.check('fresh', T0 + T.expiryMs, T);
      const now = T0 + T.expiryMs + 1;
      assert.equal(await store.prune(now, T), 1, 'the pending triplet past its expiry');
      assert.deepEqual(await store.check('passed', now, T), { pass: true, known: true });
      assert.deepEqual(await store.check('fresh', now, T), { pass: false, retryInMs: T.delayMs - 1 });
      assert.equal(await store.prune(T0 + T.delayMs + T.lifetimeMs + 10 * T.expiryMs, T), 2);
    });

    test('checks at once on one triplet are atomic: exactly one first pass', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.check(KEY, T0, T);
      const verdicts = await Promise.all(Array.from({ length: 8 }, () => store.check(KEY, T0 + T.delayMs, T)));
      assert.ok(verdicts.every((v) => v.pass));
      assert.equal(verdicts.filter((v) => v.pass && !v.known).length, 1, JSON.stringify(verdicts));
    });
  });
}
