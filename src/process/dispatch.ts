// Which process serves a connection the primary has just accepted (and
// counted in the ConnectionGate): the one with the lowest cost, where cost
// grows with the sessions a process serves and with how busy its event loop
// was at its last report. The primary's sessions weigh more, because its
// event loop also delivers, runs the admin API and logs for everyone.
// Pure: src/process/pool.ts gathers the loads and hands the socket over.

/** One process as the dispatcher sees it. */
export interface ProcessLoad {
  /** 0: the primary; a worker's number otherwise. */
  readonly id: number;
  /** Connections it serves now (counted by the primary: handed minus closed). */
  readonly sessions: number;
  /** Its event loop's utilisation over the last report (0..1). */
  readonly elu: number;
  /** False while a worker starts or stops: it is given nothing. */
  readonly ready: boolean;
}

/** How much more one of the primary's sessions costs than a worker's. */
export const PRIMARY_WEIGHT = 1.5;

/** Above this utilisation a process is saturated: it gets a connection only when every process is. */
export const SATURATED_ELU = 0.95;

export function costOf(p: ProcessLoad): number {
  const weight = p.id === 0 ? PRIMARY_WEIGHT : 1;
  // +1: the connection being placed; a busy loop serves each session more slowly.
  const cost = (p.sessions + 1) * weight * (1 + Math.max(0, Math.min(1, p.elu)));
  return p.elu >= SATURATED_ELU ? cost + 1e6 : cost;
}

/**
 * The id of the process that should serve the next connection. The primary
 * (id 0) is always a candidate, whatever `procs` says of it, so there is
 * always an answer; among equal costs the lower id wins (stable choices).
 */
export function chooseProcess(procs: readonly ProcessLoad[]): number {
  let best = 0;
  let bestCost = Infinity;
  for (const p of procs) {
    if (p.id !== 0 && !p.ready) continue;
    const c = costOf(p);
    if (c < bestCost || (c === bestCost && p.id < best)) {
      best = p.id;
      bestCost = c;
    }
  }
  return bestCost === Infinity ? 0 : best;
}
