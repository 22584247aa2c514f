// GET /api/cluster (viewer role): the nodes of the store with their health,
// as `mailwarden cluster status --json` shows them, and whether the store
// answers. On the embedded store the list holds this node only (its registry
// is in this process's memory).

import type { FastifyInstance } from 'fastify';
import type { ClusterStatus } from '../cluster/cluster-status.ts';
import type { ApiDeps } from './server.ts';

export interface StoreState {
  kind: 'embedded' | 'postgresql';
  /** false while the cluster store cannot be reached (the SMTP front end answers 4xx meanwhile). */
  reachable: boolean;
}

export function registerClusterRoutes(api: FastifyInstance, deps: ApiDeps): void {
  api.get('/api/cluster', { schema: { tags: ['dashboard'] } }, async (): Promise<ClusterStatus & { store_state: StoreState }> => {
    const store = deps.storeState();
    if (!store.reachable) return { store: store.kind, active_revision: deps.snapshot().revision, nodes: [], orphan_claims: 0, store_state: store };
    return { ...(await deps.cluster()), store_state: store };
  });
}
