// The cluster store (src/store/pg) against a real PostgreSQL started for this
// file (test/support/postgres.ts), one database per test: every port's
// contract suite, then what only a shared database can show — two nodes
// claiming at once never get one message twice, an apply seen by another
// node's subscriber within 2 s, several nodes opening (migrating) at once, a
// 50 MB message stored as it arrives, and the database stopped and started
// again under running adapters.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { postgresMissing, startPostgres, startReplicatedPostgres, tcpForward, type TestPostgres } from '../support/postgres.ts';
import { connectPg, isUnreachable, type Sql } from '../../src/store/pg/connect.ts';
import { migrate, SCHEMA_VERSION, schemaVersion } from '../../src/store/pg/schema.ts';
import { PgConfigStore } from '../../src/store/pg/config-store.ts';
import { PgAccountStore } from '../../src/store/pg/account-store.ts';
import { PgGreylistStore } from '../../src/store/pg/greylist-store.ts';
import { PgStatsStore } from '../../src/store/pg/stats-store.ts';
import { PgRateStore } from '../../src/store/pg/rate-store.ts';
import { PgNodeRegistry } from '../../src/store/pg/node-registry.ts';
import { CHUNK, PgQueueStore } from '../../src/store/pg/queue-store.ts';
import { openPgStores } from '../../src/store/pg/stores.ts';
import { embeddedDefaults } from '../../src/config/document.ts';
import { memoryLogger, tapLogger } from '../../src/log/logger.ts';
import { conditions } from '../support/conditions.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import type { Claim } from '../../src/queue/queue-store.ts';
import { configStoreContract } from './contract/config-store.ts';
import { accountStoreContract } from './contract/account-store.ts';
import { greylistStoreContract } from './contract/greylist-store.ts';
import { statsStoreContract } from './contract/stats-store.ts';
import { rateStoreContract } from './contract/rate-store.ts';
import { nodeRegistryContract } from './contract/node-registry.ts';
import { fields, put, queueStoreContract } from './contract/queue-store.ts';
import { migrationContract, migrationMarkerContract } from './contract/migration.ts';
import type { Made } from './contract/types.ts';

const missing = postgresMissing();
let server: TestPostgres | null = null;

before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

/** A fresh database with the schema, and a pool on it; the pools are ended by cleanup. */
async function database(): Promise<{ url: string; pools: Sql[]; pool(): Sql; end(): Promise<void> }> {
  assert.ok(server, 'the test server runs');
  const url = await server.createDatabase();
  const pools: Sql[] = [];
  const pool = () => {
    const sql = connectPg(url, { connectTimeout: 3, queryTimeout: 10 });
    pools.push(sql);
    return sql;
  };
  await migrate(pool());
  return { url, pools, pool, end: async () => void (await Promise.all(pools.map((p) => p.end({ timeout: 1 })))) };
}

function simple<S extends object>(ctor: (sql: Sql) => S): () => Promise<Made<S>> {
  return async () => {
    const db = await database();
    const store = ctor(db.pool());
    return {
      store,
      async cleanup() {
        if ('close' in store && typeof store.close === 'function') await (store.close as () => Promise<void>)();
        await db.end();
      },
    };
  };
}

// Without a server every test here skips with the missing component's reason (a failure when run as root).
const suite = missing ? (name: string, fn: () => void) => describe(name, { skip: missing }, fn) : describe;

suite('PostgreSQL adapters against the port contracts', () => {
  configStoreContract('PgConfigStore', simple((sql) => new PgConfigStore(sql)));
  accountStoreContract('PgAccountStore', simple((sql) => new PgAccountStore(sql)));
  greylistStoreContract('PgGreylistStore', simple((sql) => new PgGreylistStore(sql)));
  rateStoreContract('PgRateStore', simple((sql) => new PgRateStore(sql)));
  statsStoreContract('PgStatsStore', simple((sql) => new PgStatsStore(sql)));
  nodeRegistryContract('PgNodeRegistry', simple((sql) => new PgNodeRegistry(sql)));
  queueStoreContract(
    'PgQueueStore',
    async () => {
      const db = await database();
      const stores: PgQueueStore[] = [];
      const open = async () => {
        const s = new PgQueueStore(db.pool());
        await s.open();
        stores.push(s);
        return s;
      };
      const store = await open();
      const sql = db.pool();
      return {
        store,
        second: open,
        // Leases are on the database's clock: moving it forward is moving every lease's end back.
        leaseClock: { advance: async (ms: number) => void (await sql`UPDATE queue_message SET lease_until = lease_until - ${ms} WHERE lease_until IS NOT NULL`) },
        async cleanup() {
          await Promise.all(stores.map((s) => s.close()));
          await db.end();
        },
      };
    },
    { multiNode: true },
  );
  migrationContract('PostgreSQL', {
    config: simple((sql) => new PgConfigStore(sql)),
    accounts: simple((sql) => new PgAccountStore(sql)),
    greylist: simple((sql) => new PgGreylistStore(sql)),
  });
  migrationMarkerContract('PgConfigStore', simple((sql) => new PgConfigStore(sql)));
});

suite('PostgreSQL only', () => {
  test('the schema: several nodes opening at once migrate once, under the advisory lock, and record the version', async () => {
    assert.ok(server);
    const url = await server.createDatabase();
    const pools = Array.from({ length: 6 }, () => connectPg(url, { connectTimeout: 3 }));
    try {
      assert.equal(await schemaVersion(pools[0]!), 0);
      const before = await Promise.all(pools.map((p) => migrate(p)));
      assert.deepEqual(before.filter((v) => v === 0).length, 1, `exactly one open found the database empty: ${before}`);
      assert.ok(before.every((v) => v === 0 || v === SCHEMA_VERSION));
      assert.equal(await schemaVersion(pools[0]!), SCHEMA_VERSION);
      assert.equal(await migrate(pools[1]!), SCHEMA_VERSION, 'a later open finds nothing to do');
      const [row] = await pools[0]!`SELECT count(*)::int AS n FROM mw_schema`;
      assert.equal(row?.n, 1);
      // A database migrated by a newer mailwarden is refused.
      await pools[0]!`UPDATE mw_schema SET version = ${SCHEMA_VERSION + 1}`;
      await assert.rejects(migrate(pools[2]!), /newer than this mailwarden/);
    } finally {
      await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
    }
  });

  test('openPgStores gives the whole bundle on one database; close ends it', async () => {
    assert.ok(server);
    const url = await server.createDatabase();
    const logger = memoryLogger();
    const a = await openPgStores(url, { node: 'a', logger });
    const b = await openPgStores(url, { node: 'b', logger });
    try {
      assert.equal(a.kind, 'postgresql');
      const rev = await a.config.apply(embeddedDefaults(), { author: 'alice', comment: 'x' });
      assert.equal(await b.config.activeNumber(), rev.number);
      await a.accounts.add('alice', 'correct horse', 'admin', 'scrypt$x');
      assert.equal((await b.accounts.get('alice'))?.role, 'admin');
      const env = await put(a.queue);
      assert.deepEqual(await b.queue.read(env.id), env);
      assert.ok(logger.lines.some((l) => l.event === 'store.opened'));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('rewrite keeps no chunks of the old message: after commit only the new one\'s, after a failed rewrite and abort none', async (t) => {
    const db = await database();
    const store = new PgQueueStore(db.pool());
    await store.open();
    t.after(async () => {
      await store.close();
      await db.end();
    });
    const sql = db.pool();
    const chunks = async () => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_chunk`)[0]?.n;
    const msg = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), randomBytes(2 * 1024 * 1024)]);
    const half = (source: { chunks(): AsyncIterable<Buffer> }) =>
      (async function* () {
        for await (const c of source.chunks()) yield c.subarray(0, Math.ceil(c.length / 2));
      })();
    const w = store.begin(newQueueId());
    for (let i = 0; i < msg.length; i += 64 * 1024) await w.write(msg.subarray(i, i + 64 * 1024));
    const before = await chunks();
    assert.ok((before ?? 0) >= 6, `the old message's chunks are stored while it arrives (${before})`);
    await w.rewrite(half);
    const { envelope } = await w.commit(fields());
    const [row] = await sql<{ n: number; w: number }[]>`SELECT count(*)::int AS n, count(DISTINCT writer)::int AS w FROM queue_chunk`;
    assert.equal(row?.w, 1, 'one chunk key left: the committed message\'s');
    assert.equal(row?.n, Math.ceil(envelope.size / CHUNK), 'as many chunks as the new message needs');
    const failing = store.begin(newQueueId());
    for (let i = 0; i < msg.length; i += 64 * 1024) await failing.write(msg.subarray(i, i + 64 * 1024));
    const stored = await chunks();
    await assert.rejects(
      failing.rewrite((source) =>
        (async function* () {
          for await (const c of source.chunks()) yield c;
          throw new Error('broken');
        })(),
      ),
      /broken/,
    );
    assert.equal(await chunks(), stored, 'the failed rewrite\'s chunks went; the old message\'s stay');
    await failing.abort();
    assert.equal(await chunks(), row?.n, 'nothing of the failed message is left');
  });

  test('two nodes claiming one backlog at once never get one message twice', async (t) => {
    const db = await database();
    const a = new PgQueueStore(db.pool());
    const b = new PgQueueStore(db.pool());
    await a.open();
    await b.open();
    t.after(async () => {
      await a.close();
      await b.close();
      await db.end();
    });
    const N = 200;
    const ids = new Set<string>();
    for (let i = 0; i < N; i++) ids.add((await put(i % 2 ? a : b)).id);
    const now = Date.now();
    const got = new Map<string, string>();
    const worker = async (store: PgQueueStore, node: string) => {
      for (;;) {
        const claims = await store.claimDue({ node, leaseMs: 60_000, now, limit: 7 });
        if (claims.length === 0) return;
        for (const c of claims) {
          assert.equal(got.get(c.id), undefined, `${c.id} claimed twice (${got.get(c.id)} and ${node})`);
          got.set(c.id, node);
        }
        await Promise.all(claims.map((c) => store.settle(c, null)));
      }
    };
    await Promise.all([worker(a, 'a'), worker(b, 'b'), worker(a, 'a2'), worker(b, 'b2')]);
    assert.equal(got.size, N);
    assert.deepEqual(new Set(got.keys()), ids);
    assert.ok(new Set(got.values()).size > 1, 'both nodes took work');
    assert.deepEqual(await a.list(), []);
  });

  test('leases are on the database\'s clock: a node whose clock is a minute ahead (or behind) takes no live lease', async (t) => {
    const db = await database();
    const a = new PgQueueStore(db.pool());
    const ahead = new PgQueueStore(db.pool());
    await a.open();
    await ahead.open();
    t.after(async () => {
      await a.close();
      await ahead.close();
      await db.end();
    });
    const LEASE = 10_000;
    const SKEW = 60_000;
    const [m1, m2, m3] = [await put(a), await put(a), await put(a)];
    // Node a (right clock) claims two by claimDue and one by claim(id); another one it takes at commit with a clock a minute behind.
    const held = await a.claimDue({ node: 'a', leaseMs: LEASE, now: Date.now(), limit: 2 });
    assert.deepEqual(held.map((c) => c.id).sort(), [m1.id, m2.id].sort());
    const byId = await a.claim(m3.id, { node: 'a', leaseMs: LEASE, now: Date.now() });
    assert.ok(byId);
    const w = a.begin(newQueueId());
    await w.write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    const { claim: atCommit } = await w.commit(fields(), { claim: { node: 'a', leaseMs: LEASE } });
    assert.ok(atCommit);
    const skewed = Date.now() + SKEW;
    // The node whose clock is a minute ahead sees every lease as expired by its clock: it must take none.
    assert.deepEqual(await ahead.claimDue({ node: 'ahead', leaseMs: LEASE, now: skewed, limit: 10 }), [], 'claimDue takes no live lease');
    for (const id of [m1.id, m3.id, atCommit.id]) {
      assert.equal(await ahead.claim(id, { node: 'ahead', leaseMs: LEASE, now: skewed }), null, `claim(${id}) takes no live lease`);
      assert.equal((await ahead.holder(id, skewed))?.node, 'a', 'holder: the live lease is a\'s');
    }
    assert.deepEqual(await ahead.claimsByNode(skewed), new Map([['a', 4]]), 'claimsByNode counts the live leases');
    // `until` comes back in the caller's clock: what is left of the lease, from its now.
    const h = await ahead.holder(m1.id, skewed);
    assert.ok(h && h.until > skewed && h.until <= skewed + LEASE, `holder until ${h?.until} within a lease of the caller's now ${skewed}`);
    // A renewal by a node whose clock is a minute behind sets a lease on the database's clock, not one that ran out a minute ago.
    assert.deepEqual(await a.renew(held, LEASE, Date.now() - SKEW), []);
    assert.deepEqual(await ahead.claimDue({ node: 'ahead', leaseMs: LEASE, now: skewed, limit: 10 }), [], 'renewed leases are live');
    // Once the leases run out on the database's clock (moved here by moving their ends back), the other node takes them.
    await db.pool()`UPDATE queue_message SET lease_until = lease_until - ${LEASE + 1}`;
    const taken = await ahead.claimDue({ node: 'ahead', leaseMs: LEASE, now: skewed, limit: 10 });
    assert.equal(taken.length, 4, 'expired leases are taken');
  });

  test('reachability: a call begun during an outage and failing after recovery does not take the store down again, nor does a late answer from before it bring it up', async (t) => {
    const db = await database();
    const events: string[] = [];
    const logger = tapLogger(memoryLogger());
    logger.subscribe((event) => void events.push(event));
    // No probe during the test: the state changes only through the calls below.
    const store = new PgQueueStore(db.pool(), { logger, probeMs: 3_600_000 });
    t.after(async () => {
      await store.close();
      await db.end();
    });
    const unreachable = () => Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    const pending = <T>() => {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
      return { promise, resolve, reject };
    };
    // Begun before the outage, answered after it was noticed: must not bring the store up.
    const early = pending<number>();
    const earlyCall = store.track(() => early.promise);
    await assert.rejects(store.track(() => Promise.reject(unreachable())));
    assert.equal(store.admits(0).ok, false, 'down after an unreachable error');
    early.resolve(1);
    await earlyCall;
    assert.equal(store.admits(0).ok, false, 'a late answer from before the outage does not bring it up');
    // Begun during the outage, failing after the store came back: must not take it down again.
    const during = pending<number>();
    const duringCall = store.track(() => during.promise);
    await store.track(async () => 1);
    assert.equal(store.admits(0).ok, true, 'up after a call begun during the outage succeeded');
    during.reject(unreachable());
    await assert.rejects(duringCall);
    assert.equal(store.admits(0).ok, true, 'a failure of a call begun during the outage does not take it down again');
    assert.deepEqual(events.filter((e) => e.startsWith('store.')), ['store.unreachable', 'store.reachable']);
    // A call begun after recovery that fails: down again.
    await assert.rejects(store.track(() => Promise.reject(unreachable())));
    assert.equal(store.admits(0).ok, false);
  });

  test('a commit the synchronous standby never confirmed (its wait cancelled) is not acknowledged: commit() rejects, the message stays queued', async (t) => {
    const r = await startReplicatedPostgres();
    t.after(() => r.destroy());
    await r.waitStreaming();
    const url = await r.createDatabase();
    // query_timeout 2 s: postgres.js cancels the COMMIT waiting for the standby, and PostgreSQL then lets it
    // through on the primary alone with a warning, as it does for any cancel.
    const sql = connectPg(url, { connectTimeout: 3, queryTimeout: 2 });
    const events: string[] = [];
    const logger = tapLogger(memoryLogger());
    logger.subscribe((event) => void events.push(event));
    await migrate(sql);
    const store = new PgQueueStore(sql, { logger });
    await store.open();
    t.after(async () => {
      await store.close();
      await sql.end({ timeout: 1 });
    });
    const ok = await put(store);
    assert.ok(await store.read(ok.id), 'a commit confirmed by the standby');
    await r.stopStandby();
    const w = store.begin(newQueueId());
    await w.write(Buffer.from('Subject: unconfirmed\r\n\r\nbody\r\n'));
    await assert.rejects(w.commit(fields()), /not confirmed by the synchronous standby/, 'no acknowledgement for a commit on the primary alone');
    await w.abort();
    assert.ok(await store.read(w.id), 'committed on the primary: it stays queued (delivered all the same; the client got a 4xx)');
    assert.ok(events.includes('store.sync_unconfirmed'));
  });

  test('a write refused as read-only (the pool reached a standby) counts as the database away', () => {
    assert.equal(isUnreachable(Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' })), true);
    assert.equal(isUnreachable(Object.assign(new Error('duplicate key'), { code: '23505' })), false);
  });

  test('greylisting from two nodes at once is atomic: exactly one first pass', async (t) => {
    const db = await database();
    const nodes = [new PgGreylistStore(db.pool()), new PgGreylistStore(db.pool())];
    t.after(() => db.end());
    const times = { delayMs: 1000, expiryMs: 60_000, lifetimeMs: 3_600_000 };
    const T0 = 1_800_000_000_000;
    const first = await Promise.all(Array.from({ length: 10 }, (_, i) => nodes[i % 2]!.check('k', T0, times)));
    assert.ok(first.every((v) => !v.pass), 'every simultaneous first attempt is refused');
    const verdicts = await Promise.all(Array.from({ length: 10 }, (_, i) => nodes[i % 2]!.check('k', T0 + 1000, times)));
    assert.equal(verdicts.filter((v) => v.pass && !v.known).length, 1, JSON.stringify(verdicts));
  });

  test('an apply on one node is heard by another node\'s subscriber within 2 s (LISTEN/NOTIFY)', async (t) => {
    const db = await database();
    // A poll far slower than the bound: only the notification can meet it.
    const a = new PgConfigStore(db.pool(), { pollMs: 60_000 });
    const b = new PgConfigStore(db.pool(), { pollMs: 60_000 });
    t.after(async () => {
      await a.close();
      await b.close();
      await db.end();
    });
    const heard = new Map<number, number>();
    const c = conditions('apply propagation');
    b.subscribe((n) => {
      heard.set(n, performance.now());
      c.changed();
    });
    // The subscription's LISTEN is in place once a first round trip works.
    const warm = await applyTimed(a, 'warmup');
    await c.waitFor(() => heard.has(warm), 'the warm-up apply', 5_000);
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const sent = performance.now();
      const n = await applyTimed(a, `n${i}`);
      await c.waitFor(() => heard.has(n), `revision ${n} on the other node`, 2_000);
      delays.push(heard.get(n)! - sent);
    }
    delays.sort((x, y) => x - y);
    t.diagnostic(`apply propagation over LISTEN/NOTIFY: p50 ${delays[10]!.toFixed(1)} ms, max ${delays[19]!.toFixed(1)} ms`);
    assert.ok(delays[19]! < 2_000);
  });

  test('without notifications the poll still tells subscribers', async (t) => {
    const db = await database();
    const a = new PgConfigStore(db.pool(), { pollMs: 60_000 });
    const b = new PgConfigStore(db.pool(), { pollMs: 100 });
    t.after(async () => {
      await a.close();
      await b.close();
      await db.end();
    });
    const heard: number[] = [];
    const c = conditions('config poll');
    b.subscribe((n) => {
      heard.push(n);
      c.changed();
    });
    // An apply written behind the adapters' back: no NOTIFY is sent.
    const sql = db.pool();
    await sql`INSERT INTO revision (number, created, author, comment, settings) VALUES (41, ${new Date().toISOString()}, 'x', 'y', ${JSON.stringify(embeddedDefaults())})`;
    await sql`UPDATE active_revision SET number = 41`;
    await c.waitFor(() => heard.includes(41), 'revision 41 by the poll', 5_000);
    assert.equal((await a.active())?.number, 41);
  });

  test('a 50 MB message goes to the database as it arrives (memory flat) and reads back exactly', async (t) => {
    const db = await database();
    const store = new PgQueueStore(db.pool());
    await store.open();
    t.after(async () => {
      await store.close();
      await db.end();
    });
    const sql = db.pool();
    const hash = createHash('sha256');
    const piece = randomBytes(1024 * 1024);
    const w = store.begin(newQueueId());
    hash.update('Subject: big\r\n\r\n');
    await w.write(Buffer.from('Subject: big\r\n\r\n'));
    for (let i = 0; i < 50; i++) {
      const chunk = Buffer.from(piece);
      chunk.writeUInt32BE(i, 0);
      hash.update(chunk);
      await w.write(chunk);
      if (i === 24) {
        const [r] = await sql`SELECT coalesce(sum(length(data)), 0)::bigint AS stored FROM queue_chunk`;
        // What is not in the database is in memory: at most the head and one chunk.
        assert.ok(w.size - Number(r?.stored) <= 256 * 1024 + CHUNK, `held in memory: ${w.size - Number(r?.stored)} octets`);
        assert.equal(await store.read(w.id), null, 'not visible before commit');
      }
    }
    const { envelope } = await w.commit(fields());
    assert.equal(envelope.size, 50 * 1024 * 1024 + 16);
    const body = await store.body(envelope.id);
    const got = createHash('sha256');
    let size = 0;
    for await (const c of body!.stream()) {
      got.update(c as Buffer);
      size += (c as Buffer).length;
    }
    assert.equal(size, envelope.size);
    assert.equal(got.digest('hex'), hash.digest('hex'));
    await store.remove(envelope.id);
    const [left] = await sql`SELECT count(*)::int AS n FROM queue_chunk`;
    assert.equal(left?.n, 0, 'remove takes every chunk');
  });

  test('chunks of a writer that never committed are swept; committed ones never', async (t) => {
    const db = await database();
    const store = new PgQueueStore(db.pool());
    await store.open();
    t.after(async () => {
      await store.close();
      await db.end();
    });
    const sql = db.pool();
    const kept = await put(store, randomBytes(2 * 1024 * 1024));
    const w = store.begin(newQueueId());
    await w.write(randomBytes(2 * 1024 * 1024));
    const [r] = await sql`SELECT count(DISTINCT writer)::int AS n FROM queue_chunk`;
    assert.equal(r?.n, 2);
    assert.equal(await store.sweep(Date.now() - 3_600_000), 0, 'young chunks stay (the writer may still be receiving)');
    assert.ok((await store.sweep(Date.now() + 1)) > 0);
    const [n] = await sql`SELECT count(DISTINCT writer)::int AS n FROM queue_chunk`;
    assert.equal(n?.n, 1);
    assert.equal((await (await store.body(kept.id))!.whole()).length, kept.size);
    await assert.rejects(w.commit(fields()), /chunks found at commit/, 'a writer whose chunks were swept cannot commit a hole');
    assert.equal(await store.read(w.id), null);
  });

  test('a multi-host URL with target_session_attrs=read-write is followed to the primary, and again after a failover', async (t) => {
    assert.ok(server);
    const second = await startPostgres();
    const name = `multi${process.pid}`;
    const direct = [connectPg(await server.createDatabase(name)), connectPg(await second.createDatabase(name))];
    const fwd = [await tcpForward(server.socket), await tcpForward(second.socket)];
    let stores: Awaited<ReturnType<typeof openPgStores>> | null = null;
    t.after(async () => {
      await stores?.close();
      await Promise.all(direct.map((d) => d.end({ timeout: 1 })));
      await Promise.all(fwd.map((f) => f.close()));
      await second.destroy();
    });
    // The first host is a read-only one (as a standby is), the second the primary.
    for (const d of direct) await migrate(d);
    await direct[0]!.unsafe(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
    const url = `postgresql://postgres@127.0.0.1:${fwd[0]!.port},127.0.0.1:${fwd[1]!.port}/${name}?target_session_attrs=read-write`;
    stores = await openPgStores(url, { node: 'a', logger: memoryLogger(), connectTimeout: 3, queryTimeout: 5 });
    const r1 = await stores.config.apply(embeddedDefaults(), { author: 'a', comment: 'on the primary' });
    assert.equal((await direct[1]!`SELECT number FROM active_revision`)[0]?.number, r1.number, 'written on the second host, the primary');
    assert.equal((await direct[0]!`SELECT number FROM active_revision`)[0]?.number, null, 'nothing on the read-only host');

    // Failover: the primary goes away and the first host becomes the read-write one.
    await direct[0]!.unsafe(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
    await fwd[1]!.close();
    await second.stop('fast');
    let r2: Awaited<ReturnType<typeof stores.config.apply>> | null = null;
    // The first call after the failover may meet a connection that is just being cut; a caller retries then.
    for (let i = 0; i < 3 && !r2; i++) r2 = await stores.config.apply(embeddedDefaults(), { author: 'a', comment: 'after the failover' }).catch(() => null);
    assert.ok(r2, 'an apply after the failover');
    assert.equal((await direct[0]!`SELECT number FROM active_revision`)[0]?.number, r2.number, 'written on the new primary');
  });

  test('the database away: calls reject in bounded time, admits() says so, and everything works again once it is back', async (t) => {
    // A server of its own: stopping the shared one would disturb nothing here, but its restart would
    // recover every database the other tests made.
    const server = await startPostgres();
    const url = await server.createDatabase();
    const c = conditions('database away');
    const events: string[] = [];
    const logger = tapLogger(memoryLogger());
    logger.subscribe((event) => {
      events.push(event);
      c.changed();
    });
    const stores = await openPgStores(url, { node: 'a', logger, connectTimeout: 2, queryTimeout: 5, configPollMs: 200 });
    const other = await openPgStores(url, { node: 'b', logger: memoryLogger(), connectTimeout: 2, queryTimeout: 5 });
    let down = false;
    t.after(async () => {
      try {
        if (down) await server.start();
      } finally {
        await Promise.allSettled([stores.close(), other.close()]);
        await server.destroy();
      }
    });
    const heard: number[] = [];
    stores.config.subscribe((n) => {
      heard.push(n);
      c.changed();
    });
    let work = 0;
    stores.queue.onWork(() => {
      work++;
      c.changed();
    });
    const before = await put(stores.queue);

    await server.stop('immediate');
    down = true;
    const t0 = performance.now();
    const w = stores.queue.begin(newQueueId());
    await w.write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    await assert.rejects(w.commit(fields()), 'a commit with the database away rejects');
    await w.abort();
    await assert.rejects(stores.queue.claimDue({ node: 'a', leaseMs: 60_000, now: Date.now(), limit: 10 }));
    await assert.rejects(stores.config.active());
    await assert.rejects(stores.accounts.count());
    assert.ok(performance.now() - t0 < 15_000, `rejected within bounds (${(performance.now() - t0).toFixed(0)} ms)`);
    assert.equal(stores.queue.admits(0).ok, false, 'admits() refuses new mail while the database is away');
    assert.ok(events.includes('store.unreachable'));

    await server.start();
    down = false;
    // admits() comes back by itself (its probe), without a call from us.
    await c.waitFor(() => events.includes('store.reachable'), 'store.reachable', 10_000);
    assert.equal(stores.queue.admits(0).ok, true);
    // Every port works again on the same objects.
    const again = await put(stores.queue);
    assert.deepEqual((await stores.queue.list()).map((e) => e.id).sort(), [before.id, again.id].sort());
    const claims: Claim[] = await stores.queue.claimDue({ node: 'a', leaseMs: 60_000, now: Date.now(), limit: 10 });
    assert.equal(claims.length, 2);
    assert.equal(await stores.accounts.count(), 0);
    // The LISTEN connections came back too: another node's apply and commit are heard.
    const rev = await other.config.apply(embeddedDefaults(), { author: 'b', comment: 'after the restart' });
    await c.waitFor(() => heard.includes(rev.number), `revision ${rev.number} after the restart`, 5_000);
    const seen = work;
    await put(other.queue);
    await c.waitFor(() => work > seen, 'onWork after the restart', 5_000);
  });
});

async function applyTimed(store: PgConfigStore, host: string): Promise<number> {
  return (await store.apply({ ...embeddedDefaults(), hostname: `${host}.example` }, { author: 't', comment: host })).number;
}
