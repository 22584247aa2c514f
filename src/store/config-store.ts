// The ConfigStore port: the only way the rest of the code reads or changes
// the settings. The single node keeps it in SQLite (src/store/sqlite-config-store.ts);
// a cluster keeps it in PostgreSQL. Every method is asynchronous; the hot
// path (a new connection) never asks the store: it takes the snapshot that
// SnapshotSource keeps, fed by subscribe().

import type { Settings } from '../config/document.ts';

export interface RevisionMeta {
  author: string;
  comment: string;
}

export interface RevisionInfo extends RevisionMeta {
  number: number;
  /** ISO 8601, UTC. */
  created: string;
}

export interface Revision extends RevisionInfo {
  settings: Settings;
}

export interface ConfigStore {
  /** The active revision, or null on a fresh store. */
  active(): Promise<Revision | null>;
  /** The number of the active revision, cheaply. */
  activeNumber(): Promise<number | null>;
  get(number: number): Promise<Revision | null>;
  /** Newest first. */
  history(limit?: number): Promise<RevisionInfo[]>;
  /**
   * Stores `settings` as a new revision and makes it active, atomically.
   * `expectActive` guards against a concurrent apply: when given, the apply
   * fails (ConcurrentApplyError) unless the active revision is still that one.
   */
  apply(settings: Settings, meta: RevisionMeta, expectActive?: number | null): Promise<Revision>;
  /**
   * Called with the number of every revision that becomes active, whoever
   * applied it: this process (before apply() resolves), another process on
   * the same data directory, or another node of the cluster (LISTEN/NOTIFY,
   * with a poll as a fallback). Returns an unsubscribe function.
   * Each number is told once; when several applies land between two reads
   * of another process's or node's store, only the newest may be told. A
   * new subscriber may also be told the number active when it subscribed
   * (a store cannot tell an apply racing the subscription from an older one).
   */
  subscribe(listener: (number: number) => void): () => void;
  close(): Promise<void>;
}

export class ConcurrentApplyError extends Error {
  constructor(expected: number | null, actual: number | null) {
    super(`the active revision changed while you worked (expected ${expected ?? 'none'}, now ${actual ?? 'none'}); review and apply again`);
    this.name = 'ConcurrentApplyError';
  }
}
