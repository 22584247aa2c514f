// The NodeRegistry contract (src/store/node-registry.ts): register, heartbeat,
// list, deregister, and NodeNameInUse while a node of that name heartbeats
// (unless the row is the starting node's own dead incarnation).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeNameInUse, type NodeInfo, type NodeRegistry } from '../../../src/store/node-registry.ts';
import type { Factory } from './types.ts';

const T0 = 1_800_000_000_000;
const node = (name: string, at: number, over: Partial<NodeInfo> = {}): NodeInfo => ({
  name,
  heartbeat: at,
  started: at,
  revision: 3,
  listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }],
  version: '0.1.0',
  pid: 4242,
  ...over,
});

export function nodeRegistryContract(name: string, make: Factory<NodeRegistry>): void {
  describe(`NodeRegistry contract: ${name}`, () => {
    test('register, heartbeat and list every node; deregister removes one', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.register(node('b', T0), 30_000);
      await store.register(node('a', T0, { revision: null, listeners: [] }), 30_000);
      const listed = await store.list();
      assert.deepEqual([...listed].sort((x, y) => x.name.localeCompare(y.name)), [node('a', T0, { revision: null, listeners: [] }), node('b', T0)]);
      await store.heartbeat('b', T0 + 5_000, 4);
      const b = (await store.list()).find((n) => n.name === 'b');
      assert.equal(b?.heartbeat, T0 + 5_000);
      assert.equal(b?.revision, 4);
      assert.equal(b?.started, T0, 'a heartbeat keeps the start time');
      await store.deregister('a');
      assert.deepEqual((await store.list()).map((n) => n.name), ['b']);
    });

    test('setListeners replaces a node\'s listeners (registered with the configured ports, then the bound ones)', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.register(node('a', T0, { listeners: [{ name: 'mx', address: '127.0.0.1', port: 0, mode: 'mx' }] }), 30_000);
      const bound = [{ name: 'mx', address: '127.0.0.1', port: 40125, mode: 'mx' }, { name: 'submission', address: '::1', port: 40587, mode: 'submission' }];
      await store.setListeners('a', bound);
      assert.deepEqual((await store.list()).find((n) => n.name === 'a')?.listeners, bound);
      await store.setListeners('nobody', bound); // no such node: nothing happens
      assert.deepEqual((await store.list()).map((n) => n.name), ['a']);
    });

    test('a second node under a running node\'s name is refused; once its heartbeat is stale, the name is free', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.register(node('mx1', T0), 30_000);
      await store.heartbeat('mx1', T0 + 20_000, 3);
      await assert.rejects(store.register(node('mx1', T0 + 40_000, { pid: 9 }), 30_000), (e: unknown) => e instanceof NodeNameInUse);
      assert.equal((await store.list())[0]?.pid, 4242, 'the refused start changed nothing');
      await store.register(node('mx1', T0 + 51_000, { pid: 9 }), 30_000);
      const [n] = await store.list();
      assert.equal(n?.pid, 9);
      assert.equal(n?.started, T0 + 51_000);
    });

    test('a restart after a crash takes its dead incarnation\'s name at once (same pid and start time); anything else waits for the heartbeat to go stale', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.register(node('mx1', T0, { pid: 100 }), 30_000);
      await store.heartbeat('mx1', T0 + 20_000, 3);
      // Another process's row (the pid or the start time differ): still a running node.
      await assert.rejects(store.register(node('mx1', T0 + 21_000, { pid: 101 }), 30_000, { pid: 100, started: T0 + 1 }), (e: unknown) => e instanceof NodeNameInUse);
      await assert.rejects(store.register(node('mx1', T0 + 21_000, { pid: 101 }), 30_000, { pid: 99, started: T0 }), (e: unknown) => e instanceof NodeNameInUse);
      await assert.rejects(store.register(node('mx1', T0 + 21_000, { pid: 101 }), 30_000, null), (e: unknown) => e instanceof NodeNameInUse);
      assert.equal((await store.list())[0]?.pid, 100, 'the refused starts changed nothing');
      await store.register(node('mx1', T0 + 21_000, { pid: 101 }), 30_000, { pid: 100, started: T0 });
      const [n] = await store.list();
      assert.equal(n?.pid, 101);
      assert.equal(n?.started, T0 + 21_000);
      assert.equal(n?.heartbeat, T0 + 21_000);
    });

    test('two nodes starting at once under one name: exactly one registers', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      const results = await Promise.allSettled([1, 2, 3].map((pid) => store.register(node('same', T0, { pid }), 30_000)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof NodeNameInUse, String(r.reason));
      assert.equal((await store.list()).length, 1);
    });

    test('a name freed by deregister may be taken at once', async (t) => {
      const { store, cleanup } = await make();
      t.after(cleanup);
      await store.register(node('n', T0), 30_000);
      await store.deregister('n');
      await store.register(node('n', T0 + 1, { pid: 7 }), 30_000);
      assert.equal((await store.list())[0]?.pid, 7);
    });
  });
}
