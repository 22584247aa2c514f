// NodeRegistry in PostgreSQL: one row per node with its heartbeat. A start
// takes the name in one statement that succeeds only when the name is free or
// its holder's heartbeat is older than `staleMs` (a node that died), or when
// the holder is this node's own dead incarnation (the pid and start time its
// data directory's lock left behind), so that two nodes starting under one
// name at once cannot both succeed and a crashed node restarts at once.

import { NodeNameInUse, type NodeInfo, type NodeRegistry } from '../node-registry.ts';
import type { Sql } from './connect.ts';

interface Row {
  name: string;
  heartbeat: number;
  started: number;
  revision: number | null;
  listeners: string;
  version: string;
  pid: number;
}

export class PgNodeRegistry implements NodeRegistry {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async register(info: NodeInfo, staleMs: number, died?: { pid: number; started: number } | null): Promise<void> {
    const rows = await this.sql`
      INSERT INTO cluster_node (name, heartbeat, started, revision, listeners, version, pid)
      VALUES (${info.name}, ${info.heartbeat}, ${info.started}, ${info.revision}, ${JSON.stringify(info.listeners)}, ${info.version}, ${info.pid})
      ON CONFLICT (name) DO UPDATE SET heartbeat = excluded.heartbeat, started = excluded.started, revision = excluded.revision,
        listeners = excluded.listeners, version = excluded.version, pid = excluded.pid
      WHERE cluster_node.heartbeat < ${info.heartbeat - staleMs}::bigint
        ${died ? this.sql`OR (cluster_node.pid = ${died.pid} AND cluster_node.started = ${died.started}::bigint)` : this.sql``}
      RETURNING name`;
    if (rows.length > 0) return;
    const [held] = await this.sql<{ heartbeat: number }[]>`SELECT heartbeat FROM cluster_node WHERE name = ${info.name}`;
    throw new NodeNameInUse(info.name, Number(held?.heartbeat ?? info.heartbeat));
  }

  async heartbeat(name: string, now: number, revision: number | null): Promise<void> {
    await this.sql`UPDATE cluster_node SET heartbeat = ${now}, revision = ${revision} WHERE name = ${name}`;
  }

  async setListeners(name: string, listeners: NodeInfo['listeners']): Promise<void> {
    await this.sql`UPDATE cluster_node SET listeners = ${JSON.stringify(listeners)} WHERE name = ${name}`;
  }

  async deregister(name: string): Promise<void> {
    await this.sql`DELETE FROM cluster_node WHERE name = ${name}`;
  }

  async list(): Promise<NodeInfo[]> {
    const rows = await this.sql<Row[]>`SELECT name, heartbeat, started, revision, listeners, version, pid FROM cluster_node ORDER BY name`;
    return rows.map((r) => ({
      name: r.name,
      heartbeat: Number(r.heartbeat),
      started: Number(r.started),
      revision: r.revision,
      listeners: JSON.parse(r.listeners) as NodeInfo['listeners'],
      version: r.version,
      pid: r.pid,
    }));
  }
}
