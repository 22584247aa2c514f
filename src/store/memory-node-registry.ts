// NodeRegistry in memory, for the single node: it registers itself at start,
// sends heartbeats, and deregisters at a clean stop. Two daemons on one data
// directory are already kept apart by the data-directory lock; a cluster
// keeps the registry in PostgreSQL, where the name check matters.

import { NodeNameInUse, type NodeInfo, type NodeRegistry } from './node-registry.ts';

export class MemoryNodeRegistry implements NodeRegistry {
  private readonly nodes = new Map<string, NodeInfo>();
  async register(info: NodeInfo, staleMs: number, died?: { pid: number; started: number } | null): Promise<void> {
    const running = this.nodes.get(info.name);
    const dead = !!running && !!died && running.pid === died.pid && running.started === died.started;
    // As the port says: counted back from the newcomer's own heartbeat time.
    if (running && !dead && info.heartbeat - running.heartbeat <= staleMs) throw new NodeNameInUse(info.name, running.heartbeat);
    this.nodes.set(info.name, { ...info, listeners: info.listeners.map((l) => ({ ...l })) });
  }

  async heartbeat(name: string, now: number, revision: number | null): Promise<void> {
    const n = this.nodes.get(name);
    if (!n) return;
    n.heartbeat = now;
    n.revision = revision;
  }

  async setListeners(name: string, listeners: NodeInfo['listeners']): Promise<void> {
    const n = this.nodes.get(name);
    if (n) n.listeners = listeners.map((l) => ({ ...l }));
  }

  async deregister(name: string): Promise<void> {
    this.nodes.delete(name);
  }

  async list(): Promise<NodeInfo[]> {
    return [...this.nodes.values()].map((n) => ({ ...n, listeners: n.listeners.map((l) => ({ ...l })) })).sort((a, b) => a.name.localeCompare(b.name));
  }
}
