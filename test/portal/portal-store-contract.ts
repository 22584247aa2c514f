// The PortalStore contract (src/portal/portal-store.ts): lists replaced per
// owner atomically and announced to subscribers, owners listed, sessions
// created, touched, expired when idle and deleted. Run against the SQLite
// and the PostgreSQL adapters by portal-store.test.ts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PortalStore } from '../../src/portal/portal-store.ts';
import type { Factory } from '../store/contract/types.ts';

const T0 = 1_800_000_000_000;
const IDLE = 8 * 3_600_000;

/** Resolves with the first `n` owners announced (null counts too), or rejects after `ms`. */
function heard(store: PortalStore, n: number, ms = 5000): Promise<(string | null)[]> {
  return new Promise((done, fail) => {
    const got: (string | null)[] = [];
    const timer = setTimeout(() => {
      off();
      fail(new Error(`heard ${JSON.stringify(got)} within ${ms} ms, wanted ${n} announcements`));
    }, ms);
    const off = store.subscribe((owner) => {
      if (owner === null) return; // a (re)connect: nothing to count
      got.push(owner);
      if (got.length >= n) {
        clearTimeout(timer);
        off();
        done(got);
      }
    });
  });
}

export function portalStoreContract(name: string, make: Factory<PortalStore>, opts: { settle?: (store: PortalStore) => Promise<void> } = {}): void {
  describe(`PortalStore contract: ${name}`, () => {
    test('lists are replaced per owner, each owner of one save getting the same lists; owners lists those with entries', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      assert.deepEqual(await store.lists('a@example.org'), { allow: [], block: [] });
      await store.setLists(['a@example.org', 'a.alias@example.org'], { allow: ['friend@example.net', '@partner.example'], block: ['@spam.example'] });
      await store.setLists(['b@example.org'], { allow: [], block: ['x@example.com'] });
      assert.deepEqual(await store.lists('a@example.org'), { allow: ['@partner.example', 'friend@example.net'], block: ['@spam.example'] });
      assert.deepEqual(await store.lists('a.alias@example.org'), { allow: ['@partner.example', 'friend@example.net'], block: ['@spam.example'] });
      assert.deepEqual(await store.owners(100), ['a.alias@example.org', 'a@example.org', 'b@example.org']);
      assert.deepEqual(await store.owners(1), ['a.alias@example.org'], 'bounded by the limit');
      // A save replaces: an entry left out is gone, the other owner untouched.
      await store.setLists(['a@example.org'], { allow: ['friend@example.net'], block: [] });
      assert.deepEqual(await store.lists('a@example.org'), { allow: ['friend@example.net'], block: [] });
      assert.deepEqual(await store.lists('b@example.org'), { allow: [], block: ['x@example.com'] });
      await store.setLists(['b@example.org'], { allow: [], block: [] });
      assert.deepEqual(await store.owners(100), ['a.alias@example.org', 'a@example.org'], 'an owner with empty lists is no owner');
    });

    test('a save is announced to subscribers with each owner', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const listening = heard(store, 2);
      await opts.settle?.(store);
      await store.setLists(['c@example.org', 'd@example.org'], { allow: ['@example.net'], block: [] });
      assert.deepEqual((await listening).sort(), ['c@example.org', 'd@example.org']);
    });

    test('a thousand entries in each list are stored and read back', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const allow = Array.from({ length: 1000 }, (_, i) => `s${String(i).padStart(4, '0')}@example.net`);
      const block = Array.from({ length: 1000 }, (_, i) => `@d${String(i).padStart(4, '0')}.example`);
      await store.setLists(['big@example.org'], { allow, block });
      const got = await store.lists('big@example.org');
      assert.equal(got.allow.length, 1000);
      assert.equal(got.block.length, 1000);
      assert.deepEqual(got.allow, allow);
    });

    test('sessions: created, read back, idle ones end, deleted ones are gone', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.createSession({ id: 'sid-1', name: 'alice', directory: null, csrf: 'c1', stamp: 's1' }, T0, IDLE);
      await store.createSession({ id: 'sid-2', name: 'bob', directory: 'corp', csrf: 'c2', stamp: '' }, T0, IDLE);
      const a = await store.touchSession('sid-1', T0 + 120_000, IDLE);
      assert.deepEqual(a, { id: 'sid-1', name: 'alice', directory: null, csrf: 'c1', stamp: 's1', lastSeen: T0 });
      assert.equal((await store.touchSession('sid-1', T0 + 130_000, IDLE))?.lastSeen, T0 + 120_000, 'the touch was written');
      assert.equal((await store.touchSession('sid-2', T0 + 1000, IDLE))?.directory, 'corp');
      assert.equal(await store.touchSession('nope', T0, IDLE), null);
      await store.deleteSession('sid-1');
      assert.equal(await store.touchSession('sid-1', T0 + 140_000, IDLE), null);
      assert.equal(await store.touchSession('sid-2', T0 + 1000 + IDLE + 1, IDLE), null, 'idle past its time');
      assert.equal(await store.touchSession('sid-2', T0, IDLE), null, 'and deleted then');
    });
  });
}
