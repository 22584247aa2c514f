// The tracking stores against one contract (test/tracking/contract.ts): the
// memory store, SQLite (a file in a temporary directory; its reads in this
// thread, and in a worker thread as the daemon runs them) and PostgreSQL (a
// private server started for this file, one database per test, the schema
// migrated as a node migrates it).

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryTrackingStore } from '../../src/tracking/memory-tracking-store.ts';
import { SqliteTrackingStore } from '../../src/tracking/sqlite-tracking-store.ts';
import { PgTrackingStore } from '../../src/store/pg/tracking-store.ts';
import { connectPg } from '../../src/store/pg/connect.ts';
import { migrate } from '../../src/store/pg/schema.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { trackingStoreContract } from './contract.ts';

trackingStoreContract('MemoryTrackingStore', async () => ({ store: new MemoryTrackingStore(), cleanup: async () => {} }));

trackingStoreContract('SqliteTrackingStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-tracking-'));
  const store = new SqliteTrackingStore(join(dir, 'tracking.db'));
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// As the daemon opens it: the reads in a worker thread with a connection of their own.
trackingStoreContract('SqliteTrackingStore, reads in a worker thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-tracking-'));
  const store = new SqliteTrackingStore(join(dir, 'tracking.db'), { readsOffLoop: true });
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

// Without a server the PostgreSQL suite skips with the missing component's reason (a failure when run as root).
(missing ? (name: string, fn: () => void) => describe(name, { skip: missing }, fn) : describe)('PostgreSQL', () => {
  trackingStoreContract('PgTrackingStore', async () => {
    assert.ok(server, 'the test server runs');
    const sql = connectPg(await server.createDatabase(), { connectTimeout: 3, queryTimeout: 10 });
    await migrate(sql);
    return { store: new PgTrackingStore(sql), cleanup: () => sql.end({ timeout: 1 }) };
  });
});
