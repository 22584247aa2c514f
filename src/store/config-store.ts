// The ConfigStore port: the only way the rest of the code reads or changes
// the settings. The single node keeps it in SQLite; a PostgreSQL adapter is
// planned behind the same interface (ARCHITECTURE.md, "Growing past one
// machine"), so nothing outside src/store/ knows how revisions are kept.

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
  active(): Revision | null;
  /** The number of the active revision, cheaply (asked on every new connection). */
  activeNumber(): number | null;
  get(number: number): Revision | null;
  /** Newest first. */
  history(limit?: number): RevisionInfo[];
  /**
   * Stores `settings` as a new revision and makes it active, atomically.
   * `expectActive` guards against a concurrent apply: when given, the apply
   * fails unless the active revision is still that one.
   */
  apply(settings: Settings, meta: RevisionMeta, expectActive?: number | null): Revision;
  /** Called after every apply, with the new active revision. Returns an unsubscribe function. */
  subscribe(listener: (rev: Revision) => void): () => void;
  close(): void;
}

export class ConcurrentApplyError extends Error {
  constructor(expected: number | null, actual: number | null) {
    super(`the active revision changed while you worked (expected ${expected ?? 'none'}, now ${actual ?? 'none'}); review and apply again`);
    this.name = 'ConcurrentApplyError';
  }
}
