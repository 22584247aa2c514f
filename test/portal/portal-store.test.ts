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
});
