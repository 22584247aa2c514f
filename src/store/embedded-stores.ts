// The embedded bundle of stores, the single node's default: SQLite files in
// the data directory (mailwarden.db for the settings, admin.db for accounts
// and web sessions, greylist.db for greylisting, stats.db for the dashboard's
// per-minute counts; rate.db for the rate limits' counts, made only when a
// limit is configured; tracking.db for message tracking; portal.db for the user portal's sender lists and sessions; quarantine.db for the digest links' secret and slots), the node registry in memory. The files are the same as
// before the ports existed (stats.db is new and made when missing), so
// existing data directories keep working. Each part is opened on first use:
// a CLI command that only reads the settings creates no other file. The
// queue (FileQueueStore on DATA/spool) is made on first use and opened (spool
// recovery) by its user, which must hold the data directory's lock.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../log/logger.ts';
import type { AccountStore } from '../admin/account-store.ts';
import { SqliteAccountStore } from '../admin/sqlite-account-store.ts';
import type { GreylistStore } from '../antispam/greylist-store.ts';
import { SqliteGreylistStore } from '../antispam/sqlite-greylist-store.ts';
import { SqliteStatsStore } from '../api/sqlite-stats-store.ts';
import type { StatsStore } from '../api/stats-store.ts';
import type { RateStore } from '../limits/rate-store.ts';
import { SqliteRateStore } from '../limits/sqlite-rate-store.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { FileQueueStore } from '../queue/file-queue-store.ts';
import type { ConfigStore } from './config-store.ts';
import { MemoryNodeRegistry } from './memory-node-registry.ts';
import type { NodeRegistry } from './node-registry.ts';
import { SqliteConfigStore } from './sqlite-config-store.ts';
import { SqliteTrackingStore } from '../tracking/sqlite-tracking-store.ts';
import type { TrackingStore } from '../tracking/tracking-store.ts';
import type { Stores } from './stores.ts';
import type { PortalStore } from '../portal/portal-store.ts';
import { SqlitePortalStore } from '../portal/sqlite-portal-store.ts';
import { SqliteQuarantineStateStore } from '../quarantine/sqlite-quarantine-state-store.ts';
import type { QuarantineStateStore } from '../quarantine/quarantine-state-store.ts';

export type EmbeddedStores = Stores;

export interface EmbeddedOptions {
  /** How often the settings store looks for revisions applied by another process (ms). */
  configPollMs?: number;
}

/** MAILWARDEN_CONFIG_POLL_MS, when set to a positive number: how often to look for revisions applied elsewhere (tests; slow disks). */
function pollFromEnv(): number | undefined {
  const n = Number(process.env.MAILWARDEN_CONFIG_POLL_MS);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export async function openEmbeddedStores(dataDir: string, logger: Logger, opts: EmbeddedOptions = {}): Promise<EmbeddedStores> {
  const dir = resolve(dataDir);
  const pollMs = opts.configPollMs ?? pollFromEnv();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let config: SqliteConfigStore | null = null;
  let accounts: SqliteAccountStore | null = null;
  let greylist: SqliteGreylistStore | null = null;
  let stats: SqliteStatsStore | null = null;
  let rate: SqliteRateStore | null = null;
  let nodes: MemoryNodeRegistry | null = null;
  let queue: FileQueueStore | null = null;
  let tracking: SqliteTrackingStore | null = null;
  let portal: SqlitePortalStore | null = null;
  let quarantine: SqliteQuarantineStateStore | null = null;
  let closed = false;
  const open = <T>(make: () => T): T => {
    if (closed) throw new Error('the stores are closed');
    return make();
  };
  return {
    kind: 'embedded',
    get config(): ConfigStore {
      return (config ??= open(() => new SqliteConfigStore(join(dir, 'mailwarden.db'), pollMs === undefined ? {} : { pollMs })));
    },
    get accounts(): AccountStore {
      return (accounts ??= open(() => new SqliteAccountStore(join(dir, 'admin.db'))));
    },
    get greylist(): GreylistStore {
      return (greylist ??= open(() => new SqliteGreylistStore(join(dir, 'greylist.db'))));
    },
    get stats(): StatsStore {
      return (stats ??= open(() => new SqliteStatsStore(join(dir, 'stats.db'))));
    },
    get rate(): RateStore {
      return (rate ??= open(() => new SqliteRateStore(join(dir, 'rate.db'))));
    },
    get nodes(): NodeRegistry {
      return (nodes ??= open(() => new MemoryNodeRegistry()));
    },
    get queue(): QueueStore {
      return (queue ??= open(() => new FileQueueStore(dir, logger)));
    },
    get tracking(): TrackingStore {
      // Searches run in a worker thread: a long one never holds up the event loop that answers mail.
      return (tracking ??= open(() => new SqliteTrackingStore(join(dir, 'tracking.db'), { readsOffLoop: true })));
    },
    get portal(): PortalStore {
      return (portal ??= open(() => new SqlitePortalStore(join(dir, 'portal.db'))));
    },
    get quarantine(): QuarantineStateStore {
      return (quarantine ??= open(() => new SqliteQuarantineStateStore(join(dir, 'quarantine.db'))));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      // Each is closed even when another fails: an open SQLite handle would keep its WAL files.
      for (const part of [queue, greylist, accounts, stats, rate, tracking, portal, quarantine, config]) {
        try {
          await part?.close();
        } catch (err) {
          logger.log('store.close_failed', { error: (err as Error).message });
        }
      }
    },
  };
}
