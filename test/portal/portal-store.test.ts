// The PortalStore adapters against their contract: SQLite in a temporary
// directory, and PostgreSQL (a private server started for this file, one
// database per test, the schema migrated as a node does).

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlitePortalStore } from '../../src/portal/sqlite-portal-store.ts';
import { PgPortalStore } from '../../src/store/pg/portal-store.ts';
import { connectPg } from '../../src/store/pg/connect.ts';
import { migrate } from '../../src/store/pg/schema.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { portalStoreContract } from './portal-store-contract.ts';
import { SenderListCache } from '../../src/portal/sender-list-cache.ts';
import { test } from 'node:test';

portalStoreContract('SqlitePortalStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-portal-'));
  const store = new SqlitePortalStore(join(dir, 'portal.db'));
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const missing = postgresMissing();
let server: TestPostgres | null = null;
before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

const suite = missing ? (name: string, fn: () => void) => describe(name, { skip: missing }, fn) : describe;
suite('PostgreSQL', () => {
  portalStoreContract(
    'PgPortalStore',
    async () => {
      assert.ok(server, 'the test server runs');
      const url = await server.createDatabase();
      const sql = connectPg(url, { connectTimeout: 3, queryTimeout: 10 });
      await migrate(sql);
      const store = new PgPortalStore(sql);
      return {
        store,
        async cleanup() {
          await store.close();
          await sql.end({ timeout: 1 });
        },
      };
    },
    // The announcement is heard once the LISTEN is in place.
    { settle: (store) => (store as PgPortalStore).listening() },
  );

  test('two nodes: a list saved on one is applied by the other\'s cache as soon as the notice arrives, with no read per RCPT', async (t) => {
    assert.ok(server, 'the test server runs');
    const url = await server.createDatabase();
    const [sqlA, sqlB] = [connectPg(url, { connectTimeout: 3, queryTimeout: 10 }), connectPg(url, { connectTimeout: 3, queryTimeout: 10 })];
    t.after(async () => void (await Promise.all([sqlA.end({ timeout: 1 }), sqlB.end({ timeout: 1 })])));
    await migrate(sqlA);
    const nodeA = new PgPortalStore(sqlA);
    const nodeB = new PgPortalStore(sqlB);
    let reads = 0;
    const lists = nodeA.lists.bind(nodeA);
    nodeA.lists = (o) => (reads++, lists(o));
    const cache = new SenderListCache(nodeA);
    await cache.start();
    t.after(async () => {
      cache.stop();
      await nodeA.close();
    });
    await nodeA.listening();
    const blocked = async (owner: string) => {
      const l = await cache.lookup(owner);
      assert.notEqual(l, 'unavailable');
      return [...(l as { block: ReadonlySet<string> }).block];
    };
    assert.deepEqual(await blocked('alice@example.org'), []);
    for (let i = 0; i < 20; i++) await blocked('alice@example.org');
    assert.equal(reads, 0, 'nobody has lists: no read at all');
    // Heard on node A after the cache (subscribed first) has dropped what it kept.
    const heard = new Promise<void>((done) => {
      const off = nodeA.subscribe((owner) => {
        if (owner === 'alice@example.org') {
          off();
          done();
        }
      });
    });
    await nodeB.setLists(['alice@example.org'], { allow: [], block: ['@spam.example'] });
    await heard;
    assert.deepEqual(await blocked('alice@example.org'), ['@spam.example']);
    for (let i = 0; i < 20; i++) await blocked('Alice@Example.org');
    assert.equal(reads, 1, 'read once, then from memory');
  });
});
