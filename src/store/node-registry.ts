// The NodeRegistry port: which nodes run on a store, with a heartbeat. A
// single node registers itself in memory; a cluster keeps one row per node in
// PostgreSQL, so that `mailwarden cluster status` and the dashboard show every
// node, and a second node starting under a running node's name is refused.

export interface NodeInfo {
  name: string;
  /** Epoch ms of the last heartbeat. */
  heartbeat: number;
  /** Epoch ms of the start. */
  started: number;
  /** The revision the node runs. */
  revision: number | null;
  listeners: { name: string; address: string; port: number; mode: string }[];
  /** mailwarden's version and the process id, for the administrator. */
  version: string;
  pid: number;
}

export class NodeNameInUse extends Error {
  constructor(name: string, heartbeat: number) {
    super(`a node named "${name}" is running (last heartbeat ${new Date(heartbeat).toISOString()}); give this one another name with --node NAME`);
    this.name = 'NodeNameInUse';
  }
}

export interface NodeRegistry {
  /**
   * Registers a starting node; throws NodeNameInUse when a node of that name
   * sent a heartbeat within `staleMs` (it is still running), counted back
   * from `info.heartbeat` (the starting node's clock). `died`: the process
   * that held this node's data directory before and died holding it (its pid
   * and start time, from the lock's pid file): a row it wrote (the same pid
   * and start time) is this node's dead incarnation, and is taken at once,
   * whatever its heartbeat — a node restarted after a crash need not wait
   * for its own name to go stale.
   */
  register(info: NodeInfo, staleMs: number, died?: { pid: number; started: number } | null): Promise<void>;
  heartbeat(name: string, now: number, revision: number | null): Promise<void>;
  /** The node's listeners once bound (it registers before binding, with the configured ports). */
  setListeners(name: string, listeners: NodeInfo['listeners']): Promise<void>;
  /** Removes the node at a clean stop. */
  deregister(name: string): Promise<void>;
  list(): Promise<NodeInfo[]>;
}
