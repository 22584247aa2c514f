// Reads what `mailwarden cluster status`, GET /api/cluster and the dashboard
// show from a store bundle: the registered nodes, the claims per node and the
// active revision, judged by clusterStatus() (stale after three missed
// heartbeats).

import { heartbeatMs, MISSED_HEARTBEATS } from '../daemon-timing.ts';
import type { Stores } from '../store/stores.ts';
import { clusterStatus, type ClusterStatus } from './cluster-status.ts';

export async function readClusterStatus(stores: Pick<Stores, 'kind' | 'config' | 'nodes' | 'queue'>, now = Date.now()): Promise<ClusterStatus> {
  const [activeRevision, nodes, claims] = await Promise.all([stores.config.activeNumber(), stores.nodes.list(), stores.queue.claimsByNode(now)]);
  return clusterStatus({ store: stores.kind, activeRevision, nodes, claims, now, staleMs: heartbeatMs() * MISSED_HEARTBEATS });
}
