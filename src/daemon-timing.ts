// The node's heartbeat timing, shared by the daemon (which sends it) and by
// whoever judges it (cluster status, the API): a node is stale after
// MISSED_HEARTBEATS missed heartbeats.

/** How often the node's heartbeat is written to the node registry (MAILWARDEN_HEARTBEAT_MS for tests). */
export function heartbeatMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.MAILWARDEN_HEARTBEAT_MS);
  return Number.isFinite(n) && n >= 100 ? n : 5_000;
}

/**
 * The node's clock for its queue decisions and rate limit windows. MAILWARDEN_TEST_CLOCK_OFFSET_MS is
 * a TEST KNOB ONLY: it shifts this node's clock by that many milliseconds, so
 * that a test can run a node whose clock is off (leases must not care: they run
 * on the database's clock). Unset: Date.now itself.
 */
export function nodeClock(env: NodeJS.ProcessEnv = process.env): { now: () => number; offsetMs: number } {
  const n = Number(env.MAILWARDEN_TEST_CLOCK_OFFSET_MS);
  if (!env.MAILWARDEN_TEST_CLOCK_OFFSET_MS || !Number.isSafeInteger(n) || n === 0) return { now: Date.now, offsetMs: 0 };
  return { now: () => Date.now() + n, offsetMs: n };
}

/** A node whose heartbeat is older than this many heartbeats is stale (its name may be taken; cluster status says unhealthy). */
export const MISSED_HEARTBEATS = 3;
