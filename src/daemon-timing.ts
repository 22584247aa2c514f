// The node's heartbeat timing, shared by the daemon (which sends it) and by
// whoever judges it (cluster status, the API): a node is stale after
// MISSED_HEARTBEATS missed heartbeats.

/** How often the node's heartbeat is written to the node registry (MAILWARDEN_HEARTBEAT_MS for tests). */
export function heartbeatMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.MAILWARDEN_HEARTBEAT_MS);
  return Number.isFinite(n) && n >= 100 ? n : 5_000;
}

/** A node whose heartbeat is older than this many heartbeats is stale (its name may be taken; cluster status says unhealthy). */
export const MISSED_HEARTBEATS = 3;
