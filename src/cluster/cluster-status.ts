// What `mailwarden cluster status` and the dashboard show about the nodes of
// a store: each node with its last heartbeat, the revision it runs, its
// listeners, the messages it holds claims on, and whether it is healthy (a
// heartbeat within the stale time, and the active revision). Pure: the
// caller reads the NodeRegistry and the QueueStore.

import type { NodeInfo } from '../store/node-registry.ts';

export interface NodeStatus {
  name: string;
  healthy: boolean;
  /** Why not healthy; null when healthy. */
  problem: string | null;
  heartbeat: string;
  heartbeat_age_s: number;
  started: string;
  revision: number | null;
  listeners: NodeInfo['listeners'];
  claims: number;
  version: string;
  pid: number;
}

export interface ClusterStatus {
  store: 'embedded' | 'postgresql';
  active_revision: number | null;
  nodes: NodeStatus[];
  /** Claims held by names that are not registered (a node that died without deregistering): taken over once their leases expire. */
  orphan_claims: number;
}

export function clusterStatus(input: {
  store: ClusterStatus['store'];
  activeRevision: number | null;
  nodes: readonly NodeInfo[];
  claims: ReadonlyMap<string, number>;
  now: number;
  staleMs: number;
}): ClusterStatus {
  const names = new Set(input.nodes.map((n) => n.name));
  let orphan = 0;
  for (const [node, n] of input.claims) if (!names.has(node)) orphan += n;
  const nodes = [...input.nodes]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n): NodeStatus => {
      const age = Math.max(0, input.now - n.heartbeat);
      let problem: string | null = null;
      if (age > input.staleMs) problem = `no heartbeat for ${Math.round(age / 1000)} s`;
      else if (input.activeRevision !== null && n.revision !== input.activeRevision) problem = `runs revision ${n.revision ?? 'none'}, the active one is ${input.activeRevision}`;
      return {
        name: n.name,
        healthy: problem === null,
        problem,
        heartbeat: new Date(n.heartbeat).toISOString(),
        heartbeat_age_s: Math.round(age / 1000),
        started: new Date(n.started).toISOString(),
        revision: n.revision,
        listeners: n.listeners,
        claims: input.claims.get(n.name) ?? 0,
        version: n.version,
        pid: n.pid,
      };
    });
  return { store: input.store, active_revision: input.activeRevision, nodes, orphan_claims: orphan };
}

/** The table `mailwarden cluster status` prints. */
export function formatClusterStatus(s: ClusterStatus): string {
  const lines = [`store: ${s.store}; active revision: ${s.active_revision ?? 'none'}; ${s.nodes.length} node(s)`];
  if (s.nodes.length === 0) lines.push('no node is running');
  for (const n of s.nodes) {
    const listens = n.listeners.map((l) => `${l.name}=${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`).join(' ') || '-';
    lines.push(`${n.healthy ? 'healthy  ' : 'UNHEALTHY'} ${n.name}  revision ${n.revision ?? '-'}  heartbeat ${n.heartbeat_age_s} s ago  claims ${n.claims}  ${listens}${n.problem ? `  (${n.problem})` : ''}`);
  }
  if (s.orphan_claims > 0) lines.push(`${s.orphan_claims} message(s) claimed by nodes that are gone: another node takes them when their leases expire`);
  return lines.join('\n') + '\n';
}
