// Opens the cluster store: one connection pool for every port, the schema
// created or migrated first (under its advisory lock), then the adapters.

import type { Logger } from '../../log/logger.ts';
import type { Stores } from '../stores.ts';
import { PgAccountStore } from './account-store.ts';
import { PgConfigStore } from './config-store.ts';
import { connectPg, redactUrl, type PgOptions } from './connect.ts';
import { PgGreylistStore } from './greylist-store.ts';
import { PgNodeRegistry } from './node-registry.ts';
import { PgQueueStore } from './queue-store.ts';
import { migrate } from './schema.ts';
import { PgStatsStore } from './stats-store.ts';
import { PgRateStore } from './rate-store.ts';
import { PgTrackingStore } from './tracking-store.ts';
import { PgPortalStore } from './portal-store.ts';
import { PgQuarantineStateStore } from './quarantine-state-store.ts';

export interface PgStoresOptions extends PgOptions {
  /** This node's name (--node). */
  node: string;
  logger: Logger;
  /** How often subscribers poll the active revision when no notification comes (default 5 s). */
  configPollMs?: number;
  /** The node's clock (Date.now by default): the queue answers nextDue() in it; leases are the database's. */
  now?: () => number;
}

export async function openPgStores(url: string, o: PgStoresOptions): Promise<Stores> {
  const sql = connectPg(url, o);
  try {
    const before = await migrate(sql);
    o.logger.log('store.opened', { store: 'postgresql', url: redactUrl(url), node: o.node, schema_before: before });
    const queue = new PgQueueStore(sql, { logger: o.logger, ...(o.now ? { now: o.now } : {}) });
    await queue.open();
    const config = new PgConfigStore(sql, o.configPollMs === undefined ? {} : { pollMs: o.configPollMs });
    const accounts = new PgAccountStore(sql);
    const greylist = new PgGreylistStore(sql);
    const stats = new PgStatsStore(sql);
    const rate = new PgRateStore(sql);
    const nodes = new PgNodeRegistry(sql);
    const tracking = new PgTrackingStore(sql);
    const portal = new PgPortalStore(sql);
    const quarantine = new PgQuarantineStateStore(sql);
    return {
      kind: 'postgresql',
      config,
      accounts,
      greylist,
      stats,
      rate,
      queue,
      nodes,
      tracking,
      portal,
      quarantine,
      async close() {
        await Promise.allSettled([config.close(), accounts.close(), greylist.close(), stats.close(), rate.close(), tracking.close(), portal.close(), queue.close()]);
        await sql.end({ timeout: 5 });
      },
    };
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw err;
  }
}
