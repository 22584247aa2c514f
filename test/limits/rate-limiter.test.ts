// The node-local rate counter (src/limits/rate-limiter.ts) on a fake clock and
// the memory store: counts reset when the window ends; refused messages are
// not counted; one store read per bucket and window, the counts handed over at
// flush; two limiters on one store (two nodes) see each other's counts after a
// flush; a store that fails keeps the counts for the next flush; trips are
// logged with the limit, who, count and window; the SQLite adapter and the
// memory one keep the store contract.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RateLimit } from '../../src/config/document.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { MemoryRateStore } from '../../src/limits/memory-rate-store.ts';
import { SqliteRateStore } from '../../src/limits/sqlite-rate-store.ts';
import { RateLimiter } from '../../src/limits/rate-limiter.ts';
import type { RateSubject } from '../../src/limits/rate-rules.ts';
import type { RateCount, RateStore } from '../../src/limits/rate-store.ts';
import { rateStoreContract } from '../store/contract/rate-store.ts';

const T0 = Date.UTC(2026, 5, 15, 10, 0, 0);
const alice: RateSubject = { user: 'alice', groups: ['sales'], client: '192.0.2.7', relayed: true, inNetwork: () => false, senderDomain: 'example.org' };
const bob: RateSubject = { ...alice, user: 'bob', client: '192.0.2.8' };
const ctx = { client: '192.0.2.7', user: 'alice', sender: 'alice@example.org' };

function make(o: { store?: RateStore; clock?: { now: number } } = {}) {
  const clock = o.clock ?? { now: T0 };
  const store = o.store ?? new MemoryRateStore();
  const logger = memoryLogger();
  const limiter = new RateLimiter(() => store, { logger, now: () => clock.now, flushMs: 60_000, shared: true });
  after(() => limiter.close());
  return { clock, store, logger, limiter };
}

describe('RateLimiter', () => {
  const perUser: RateLimit[] = [{ name: 'two an hour', who: 'user', messages: 2, per: '1h', action: 'defer' }];

  it('passes up to the limit, refuses beyond it without counting, and starts over in the next window', async () => {
    const { limiter, clock, logger } = make();
    assert.equal((await limiter.take(perUser, 'messages', alice, 1, ctx)).kind, 'pass');
    assert.equal((await limiter.take(perUser, 'messages', alice, 1, ctx)).kind, 'pass');
    assert.equal((await limiter.take(perUser, 'messages', bob, 1, ctx)).kind, 'pass', 'another user, another bucket');
    const r = await limiter.take(perUser, 'messages', alice, 1, ctx);
    assert.equal(r.kind, 'refuse');
    assert.equal((await limiter.take(perUser, 'messages', alice, 1, ctx)).kind === 'refuse' && true, true);
    const lines = logger.lines.filter((l) => l.event === 'rate.limited');
    assert.equal(lines.length, 2);
    assert.deepEqual(
      { ...lines[0]!.fields },
      { limit: 0, name: 'two an hour', who: 'user', value: 'alice', unit: 'messages', count: 2, max: 2, per: '1h', window_start: new Date(T0).toISOString(), resets_at: new Date(T0 + 3_600_000).toISOString(), action: 'defer', client: '192.0.2.7', user: 'alice', sender: 'alice@example.org' },
    );
    assert.equal(lines[1]!.fields.count, 2, 'the refused ones were not counted');
    clock.now = T0 + 3_600_000 - 1;
    assert.equal((await limiter.take(perUser, 'messages', alice, 1, ctx)).kind, 'refuse', 'the last millisecond of the window');
    clock.now = T0 + 3_600_000;
    assert.equal((await limiter.take(perUser, 'messages', alice, 1, ctx)).kind, 'pass', 'a new window: the count reset');
  });

  it('hold: counted and reported, and the limit keeps holding', async () => {
    const { limiter } = make();
    const hold: RateLimit[] = [{ who: 'client', messages: 1, per: '1m', action: 'hold' }];
    assert.equal((await limiter.take(hold, 'messages', alice, 1, ctx)).kind, 'pass');
    const h = await limiter.take(hold, 'messages', alice, 1, ctx);
    assert.equal(h.kind, 'hold');
    assert.equal(h.kind === 'hold' && h.trip.count, 1);
    const h2 = await limiter.take(hold, 'messages', alice, 1, ctx);
    assert.equal(h2.kind === 'hold' && h2.trip.count, 2, 'a held message is counted');
  });

  it('reads the store once per bucket and window, and writes only at flush', async () => {
    const store = new MemoryRateStore();
    const { limiter } = make({ store });
    for (let i = 0; i < 2; i++) await limiter.take(perUser, 'messages', alice, 1, ctx);
    assert.equal(store.adds, 1, 'one read, at the first message');
    assert.deepEqual(await store.current(T0), [], 'a read makes no row');
    await limiter.flush();
    assert.deepEqual((await store.current(T0)).map((c) => c.count), [2]);
  });

  it('two nodes on one store count together once their counts are flushed', async () => {
    const store = new MemoryRateStore();
    const clock = { now: T0 };
    const a = make({ store, clock }).limiter;
    const b = make({ store, clock }).limiter;
    const limit: RateLimit[] = [{ who: 'group', recipients: 3, per: '1d', action: 'reject' }];
    await a.take(limit, 'recipients', alice, 1, ctx);
    await a.take(limit, 'recipients', alice, 1, ctx);
    await a.flush();
    assert.equal((await b.take(limit, 'recipients', bob, 1, ctx)).kind, 'pass', "bob is in alice's group: the group's third");
    const r = await b.take(limit, 'recipients', bob, 1, ctx);
    assert.equal(r.kind === 'refuse' && r.trip.action, 'reject');
    await b.flush();
    await a.flush();
    assert.equal((await a.take(limit, 'recipients', alice, 1, ctx)).kind, 'refuse', "a learns b's count at its flush");
  });

  it('a store that cannot be read refuses (the check defers); one that fails at flush keeps the counts for the next', async () => {
    const inner = new MemoryRateStore();
    let failing = true;
    const store: RateStore = {
      add: (d: readonly RateCount[]) => (failing ? Promise.reject(new Error('database away')) : inner.add(d)),
      current: (n) => inner.current(n),
      prune: (n) => inner.prune(n),
      close: () => inner.close(),
    };
    const { limiter, logger } = make({ store });
    await assert.rejects(limiter.take(perUser, 'messages', alice, 1, ctx), /database away/);
    failing = false;
    assert.equal((await limiter.take(perUser, 'messages', alice, 1, ctx)).kind, 'pass', 'asked again at the next message');
    failing = true;
    await limiter.flush();
    assert.equal(logger.lines.filter((l) => l.event === 'rate.store_error').length, 1);
    failing = false;
    await limiter.flush();
    assert.deepEqual((await inner.current(T0)).map((c) => c.count), [1]);
    assert.equal(logger.lines.filter((l) => l.event === 'rate.store_recovered').length, 1);
  });

  it('check() only asks: transactions that are never committed count nothing, and leave no store row', async () => {
    const store = new MemoryRateStore();
    const { limiter } = make({ store });
    for (let i = 0; i < 50; i++) assert.equal((await limiter.check(perUser, 'messages', alice, 1, ctx)).kind, 'pass', `abandoned transaction ${i + 1}`);
    await limiter.flush();
    assert.deepEqual(await store.current(T0), []);
    limiter.count(perUser, 'messages', alice, 1);
    limiter.count(perUser, 'messages', alice, 1);
    assert.equal((await limiter.check(perUser, 'messages', alice, 1, ctx)).kind, 'refuse', 'two committed: the third is refused');
    const rcpt: RateLimit[] = [{ who: 'user', recipients: 5, per: '1h', action: 'defer' }];
    assert.equal((await limiter.check(rcpt, 'recipients', alice, 5, ctx)).kind, 'pass', "this transaction's five recipients fit");
    assert.equal((await limiter.check(rcpt, 'recipients', alice, 6, ctx)).kind, 'refuse', 'a sixth in one transaction does not');
    await limiter.flush();
    assert.deepEqual((await store.current(T0)).map((c) => [c.bucket, c.count]), [['messages|user|alice|1h', 2]]);
  });

  it('keeps at most maxBuckets in memory: flushed buckets are forgotten least recently used first and read back from the store', async () => {
    const store = new MemoryRateStore();
    const clock = { now: T0 };
    const limiter = new RateLimiter(() => store, { logger: memoryLogger(), now: () => clock.now, flushMs: 60_000, maxBuckets: 3 });
    after(() => limiter.close());
    const perClient: RateLimit[] = [{ who: 'client', messages: 2, per: '1d', action: 'defer' }];
    const client = (i: number): RateSubject => ({ ...alice, client: `198.51.100.${i}` });
    // Counted, not yet flushed: nothing may be forgotten (the counts live only here).
    for (let i = 1; i <= 5; i++) {
      await limiter.check(perClient, 'messages', client(i), 1, ctx);
      limiter.count(perClient, 'messages', client(i), 2);
    }
    assert.equal(limiter.size, 5, 'unflushed counts are kept beyond the cap');
    await limiter.flush();
    // Asking for 100 more clients (a flood of new addresses) keeps the cap.
    for (let i = 100; i < 200; i++) await limiter.check(perClient, 'messages', client(i), 1, ctx);
    assert.equal(limiter.size, 4, 'the cap, plus the bucket just asked for (trimmed at the next check)');
    assert.deepEqual(await store.current(T0).then((r) => r.length), 5, 'only the counted buckets have rows');
    // A forgotten bucket is read back: client 1 still has its two.
    assert.equal((await limiter.check(perClient, 'messages', client(1), 1, ctx)).kind, 'refuse');
    clock.now = T0 + 86_400_000;
    assert.equal((await limiter.check(perClient, 'messages', client(1), 1, ctx)).kind, 'pass', 'the next day starts from zero');
    assert.ok(limiter.size <= 4);
  });

  it('no limit, no store: a limiter whose limits are empty never asks for its store', async () => {
    const limiter = new RateLimiter(() => assert.fail('the store was opened'), { logger: memoryLogger() });
    assert.deepEqual(await limiter.take([], 'messages', alice, 1, ctx), { kind: 'pass' });
    await limiter.close();
  });
});

rateStoreContract('MemoryRateStore', async () => ({ store: new MemoryRateStore(), cleanup: async () => {} }));
rateStoreContract('SqliteRateStore', async () => {
  const d = mkdtempSync(join(tmpdir(), 'mailwarden-rate-'));
  const store = new SqliteRateStore(join(d, 'rate.db'));
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(d, { recursive: true, force: true });
    },
  };
});
