// Every store a node works on, as one bundle: the embedded one (SQLite files
// and the spool in the data directory; the default) or the cluster one
// (PostgreSQL, chosen with --store URL or MAILWARDEN_STORE). The daemon and
// the CLI open one bundle and never know which.

import type { AccountStore } from '../admin/account-store.ts';
import type { GreylistStore } from '../antispam/greylist-store.ts';
import type { StatsStore } from '../api/stats-store.ts';
import type { RateStore } from '../limits/rate-store.ts';
import type { TrackingStore } from '../tracking/tracking-store.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { ConfigStore } from './config-store.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { PortalStore } from '../portal/portal-store.ts';
import type { QuarantineStateStore } from '../quarantine/quarantine-state-store.ts';

export interface Stores {
  kind: 'embedded' | 'postgresql';
  config: ConfigStore;
  accounts: AccountStore;
  greylist: GreylistStore;
  stats: StatsStore;
  /** The rate limits' counts (limits.rate); the embedded one is opened on first use. */
  rate: RateStore;
  queue: QueueStore;
  nodes: NodeRegistry;
  /** Message tracking (src/tracking): the embedded one (DATA/tracking.db) is opened on first use. */
  tracking: TrackingStore;
  /** The user portal's sender lists and sessions (src/portal); the embedded one (DATA/portal.db) is opened on first use. */
  portal: PortalStore;
  /** The quarantine self-service's signing secret and digest slots (the embedded one, DATA/quarantine.db, opened on first use). */
  quarantine: QuarantineStateStore;
  close(): Promise<void>;
}
