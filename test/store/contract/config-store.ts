// The ConfigStore contract: what every adapter (SQLite, PostgreSQL) promises,
// from the port's doc comments (src/store/config-store.ts). Call
// configStoreContract(name, make) from a test file.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddedDefaults, type Settings } from '../../../src/config/document.ts';
import { ConcurrentApplyError, type ConfigStore } from '../../../src/store/config-store.ts';
import type { Factory } from './types.ts';

function settings(hostname: string): Settings {
  return { ...embeddedDefaults(), hostname };
}

export function configStoreContract(name: string, make: Factory<ConfigStore>): void {
  describe(`ConfigStore contract: ${name}`, () => {
    test('a fresh store has no revision', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.equal(await store.active(), null);
      assert.equal(await store.activeNumber(), null);
      assert.equal(await store.get(1), null);
      assert.deepEqual(await store.history(), []);
    });

    test('apply stores a revision and makes it active; get and history read it back', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const s1 = settings('one.example');
      const r1 = await store.apply(s1, { author: 'alice', comment: 'first' });
      assert.equal(typeof r1.number, 'number');
      assert.equal(r1.author, 'alice');
      assert.equal(r1.comment, 'first');
      assert.ok(!Number.isNaN(Date.parse(r1.created)) && r1.created.endsWith('Z'), `created is ISO UTC: ${r1.created}`);
      assert.deepEqual(r1.settings, s1);
      const r2 = await store.apply(settings('two.example'), { author: 'bob', comment: 'second' });
      assert.ok(r2.number > r1.number, 'numbers grow');
      assert.equal(await store.activeNumber(), r2.number);
      const active = await store.active();
      assert.equal(active?.number, r2.number);
      assert.deepEqual(active?.settings, settings('two.example'));
      const old = await store.get(r1.number);
      assert.deepEqual(old, r1, 'an old revision reads back exactly');
      const h = await store.history();
      assert.deepEqual(h.map((x) => x.number), [r2.number, r1.number], 'newest first');
      assert.deepEqual(h[1], { number: r1.number, created: r1.created, author: 'alice', comment: 'first' });
      assert.deepEqual((await store.history(1)).map((x) => x.number), [r2.number], 'limit');
    });

    test('expectActive: an apply against a revision that is no longer active fails and stores nothing', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const r1 = await store.apply(settings('a.example'), { author: 'a', comment: '' }, null);
      const r2 = await store.apply(settings('b.example'), { author: 'b', comment: '' }, r1.number);
      await assert.rejects(store.apply(settings('c.example'), { author: 'c', comment: '' }, r1.number), (e: unknown) => e instanceof ConcurrentApplyError);
      await assert.rejects(store.apply(settings('c.example'), { author: 'c', comment: '' }, null), (e: unknown) => e instanceof ConcurrentApplyError);
      assert.equal(await store.activeNumber(), r2.number);
      assert.equal((await store.history()).length, 2, 'the refused applies stored nothing');
      assert.equal((await store.apply(settings('c.example'), { author: 'c', comment: '' })).number > r2.number, true, 'without expectActive the apply goes through');
    });

    test('concurrent applies with one expectActive: exactly one wins', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const r1 = await store.apply(settings('a.example'), { author: 'a', comment: '' });
      const results = await Promise.allSettled([1, 2, 3, 4].map((i) => store.apply(settings(`n${i}.example`), { author: `n${i}`, comment: '' }, r1.number)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ConcurrentApplyError, String(r.reason));
      assert.equal((await store.history()).length, 2);
    });

    test('subscribe hears an apply of this store before apply() resolves; unsubscribe stops it', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const heard: number[] = [];
      const off = store.subscribe((n) => heard.push(n));
      const r1 = await store.apply(settings('a.example'), { author: 'a', comment: '' });
      assert.deepEqual(heard, [r1.number]);
      off();
      await store.apply(settings('b.example'), { author: 'b', comment: '' });
      assert.deepEqual(heard, [r1.number]);
    });
  });
}
