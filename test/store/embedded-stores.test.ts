// The embedded store (the single node's default: SQLite files and the spool
// in the data directory) against the same port contracts as the cluster store
// (test/store/pg-stores.test.ts), so that the two cannot drift.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { SqliteConfigStore } from '../../src/store/sqlite-config-store.ts';
import { SqliteAccountStore } from '../../src/admin/sqlite-account-store.ts';
import { SqliteGreylistStore } from '../../src/antispam/sqlite-greylist-store.ts';
import { MemoryStatsStore } from '../../src/api/memory-stats-store.ts';
import { MemoryNodeRegistry } from '../../src/store/memory-node-registry.ts';
import { FileQueueStore } from '../../src/queue/file-queue-store.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { configStoreContract } from './contract/config-store.ts';
import { accountStoreContract } from './contract/account-store.ts';
import { greylistStoreContract } from './contract/greylist-store.ts';
import { statsStoreContract } from './contract/stats-store.ts';
import { nodeRegistryContract } from './contract/node-registry.ts';
import { queueStoreContract } from './contract/queue-store.ts';
import { migrationContract } from './contract/migration.ts';
import type { Made } from './contract/types.ts';

/** A fresh data directory, removed by cleanup after the store is closed. */
function inDir<S extends { close(): unknown }>(make: (dir: string) => S | Promise<S>): () => Promise<Made<S>> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailwarden-contract-'));
    const store = await make(dir);
    return {
      store,
      async cleanup() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

describe('embedded adapters against the port contracts', () => {
  configStoreContract('SqliteConfigStore', inDir((dir) => new SqliteConfigStore(join(dir, 'mailwarden.db'), { pollMs: 100 })));
  accountStoreContract('SqliteAccountStore', inDir((dir) => new SqliteAccountStore(join(dir, 'admin.db'))));
  greylistStoreContract('SqliteGreylistStore', inDir((dir) => new SqliteGreylistStore(join(dir, 'greylist.db'))));
  statsStoreContract('MemoryStatsStore', async () => ({ store: new MemoryStatsStore(), cleanup: async () => {} }));
  nodeRegistryContract('MemoryNodeRegistry', async () => ({ store: new MemoryNodeRegistry(), cleanup: async () => {} }));
  queueStoreContract(
    'FileQueueStore',
    inDir(async (dir) => {
      const s = new FileQueueStore(dir, memoryLogger());
      await s.open();
      return s;
    }),
  );
  migrationContract('SQLite', {
    config: inDir((dir) => new SqliteConfigStore(join(dir, 'mailwarden.db'), { pollMs: 100 })),
    accounts: inDir((dir) => new SqliteAccountStore(join(dir, 'admin.db'))),
    greylist: inDir((dir) => new SqliteGreylistStore(join(dir, 'greylist.db'))),
  });
});
