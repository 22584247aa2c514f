// The quarantine's state (the links' signing secret, the digest slots) on
// both stores: the secret is created once and is the same for every opener
// (two processes' handles on one data directory, two nodes on one
// PostgreSQL), 32 octets, in a 0600 file for the embedded store, never
// written to the log; a digest slot is taken by exactly one of several
// concurrent claimers.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteQuarantineStateStore } from '../../src/quarantine/sqlite-quarantine-state-store.ts';
import { PgQuarantineStateStore } from '../../src/store/pg/quarantine-state-store.ts';
import type { QuarantineStateStore } from '../../src/quarantine/quarantine-state-store.ts';
import { connectPg, type Sql } from '../../src/store/pg/connect.ts';
import { migrate } from '../../src/store/pg/schema.ts';
import { openEmbeddedStores } from '../../src/store/embedded-stores.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';

function contract(name: string, make: () => Promise<{ a: QuarantineStateStore; b: QuarantineStateStore; cleanup(): Promise<void> }>, skip: string | null = null): void {
  describe(name, { skip: skip ?? false }, () => {
    test('one secret, created once, the same for every opener', async () => {
      const m = await make();
      try {
        const [x, y] = await Promise.all([m.a.signingSecret(), m.b.signingSecret()]);
        assert.equal(x.length, 32);
        assert.deepEqual(x, y);
        assert.deepEqual(await m.a.signingSecret(), x, 'kept');
        assert.notDeepEqual(x, Buffer.alloc(32));
      } finally {
        await m.cleanup();
      }
    });

    test('a digest slot is taken once; the last slot and pruning', async () => {
      const m = await make();
      try {
        const wins = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? m.a : m.b).claimDigestSlot('daily 08:00@2026-12-05T08:00', `n${i}`, 1000)));
        assert.equal(wins.filter(Boolean).length, 1);
        assert.equal(await m.a.claimDigestSlot('daily 08:00@2026-12-06T08:00', 'n0', 2000), true);
        assert.equal(await m.b.lastDigestSlot(2000), 1000);
        assert.equal(await m.b.lastDigestSlot(2001), 2000);
        assert.equal(await m.b.lastDigestSlot(1000), null);
        assert.equal(await m.a.pruneDigestSlots(1500), 1);
        assert.equal(await m.a.lastDigestSlot(2000), null);
      } finally {
        await m.cleanup();
      }
    });
  });
}

contract('embedded (DATA/quarantine.db)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-qs-'));
  const a = new SqliteQuarantineStateStore(join(dir, 'quarantine.db'));
  const b = new SqliteQuarantineStateStore(join(dir, 'quarantine.db'));
  return {
    a,
    b,
    async cleanup() {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('the embedded file is 0600, made on first use by the bundle, and the secret is never logged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-qs-'));
  const logger = memoryLogger();
  const stores = await openEmbeddedStores(dir, logger);
  try {
    const secret = await stores.quarantine.signingSecret();
    assert.equal(statSync(join(dir, 'quarantine.db')).mode & 0o777, 0o600);
    const text = JSON.stringify(logger.lines);
    assert.ok(!text.includes(secret.toString('hex')) && !text.includes(secret.toString('base64')));
  } finally {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

const missing = postgresMissing();
let server: TestPostgres | null = null;
before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

contract(
  'PostgreSQL (two nodes on one database)',
  async () => {
    assert.ok(server);
    const url = await server.createDatabase();
    const pools: Sql[] = [connectPg(url, { connectTimeout: 3, queryTimeout: 10 }), connectPg(url, { connectTimeout: 3, queryTimeout: 10 })];
    await Promise.all(pools.map((p) => migrate(p)));
    return {
      a: new PgQuarantineStateStore(pools[0] as Sql),
      b: new PgQuarantineStateStore(pools[1] as Sql),
      async cleanup() {
        await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
      },
    };
  },
  missing,
);
