// The dashboard's per-minute series comes from the StatsStore: each node's
// Stats hands its minutes (the current one included, replaced as it grows)
// to the store, and the series is the sum over every node. The embedded
// NodeRegistry: a node registers, beats, and deregisters; a live name is refused.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Stats } from '../../src/api/stats.ts';
import { MemoryStatsStore } from '../../src/api/memory-stats-store.ts';
import { MemoryNodeRegistry } from '../../src/store/memory-node-registry.ts';
import { NodeNameInUse, type NodeInfo } from '../../src/store/node-registry.ts';

describe('Stats with a StatsStore', () => {
  it('sums the nodes per minute, the current minute included and replaced, over the last hour', async () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 30);
    const clock = () => now;
    const store = new MemoryStatsStore();
    const a = new Stats(clock);
    const b = new Stats(clock);
    a.observe('queued', { client: '192.0.2.1', relayed: true }); // before attach: handed over at attach
    a.attach(store, 'a');
    b.attach(store, 'b');
    a.observe('queued', { client: '192.0.2.1' });
    b.observe('queued', { client: '192.0.2.2', relayed: true });
    b.observe('rcpt', { client: '192.0.2.9', action: 'reject' });

    let series = await a.perMinute();
    assert.equal(series.length, 60);
    assert.deepEqual(series.at(-1), { minute: '2026-01-01T12:00:00.000Z', accepted: 2, relayed: 1, refused: 0, deferred: 0, auth_failed: 0, auth_succeeded: 0, rate_limited: 0 }, 'b has not handed its minute over yet');
    await b.flush();
    series = await a.perMinute();
    assert.deepEqual(series.at(-1), { minute: '2026-01-01T12:00:00.000Z', accepted: 3, relayed: 2, refused: 1, deferred: 0, auth_failed: 0, auth_succeeded: 0, rate_limited: 0 });

    // The same minute counted further replaces what the store had (never added twice).
    a.observe('queued', { client: '192.0.2.1' });
    series = await a.perMinute();
    assert.equal(series.at(-1)?.accepted, 4);
    assert.equal(series.reduce((n, m) => n + m.accepted, 0), 4);

    // A minute later: the last minute stays, a new one starts.
    now += 60_000;
    b.observe('delivery', { status: 'deferred' });
    await b.flush();
    series = await b.perMinute();
    assert.deepEqual(series.slice(-2).map((m) => [m.accepted, m.deferred]), [[4, 0], [0, 1]]);
    // An hour later the minutes have left the window.
    now += 60 * 60_000;
    assert.equal((await a.perMinute()).reduce((n, m) => n + m.accepted + m.deferred, 0), 0);
  });
});

describe('MemoryNodeRegistry', () => {
  it('registers, beats, refuses a live name, takes over a stale one, deregisters', async () => {
    let now = 1_000_000;
    const reg = new MemoryNodeRegistry();
    const info: NodeInfo = { name: 'mx1', heartbeat: now, started: now, revision: 3, listeners: [{ name: 'mx', address: '127.0.0.1', port: 25, mode: 'mx' }], version: '1.0.0', pid: 42 };
    await reg.register(info, 30_000);
    now += 10_000;
    await reg.heartbeat('mx1', now, 4);
    assert.deepEqual((await reg.list()).map((n) => [n.name, n.heartbeat, n.revision]), [['mx1', now, 4]]);
    await assert.rejects(reg.register({ ...info, pid: 43 }, 30_000), NodeNameInUse);
    now += 30_001;
    await reg.register({ ...info, pid: 43, heartbeat: now }, 30_000);
    assert.equal((await reg.list())[0]?.pid, 43, 'a stale node of that name is replaced');
    await reg.deregister('mx1');
    assert.deepEqual(await reg.list(), []);
  });
});
