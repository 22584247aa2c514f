// The snapshot new connections pin: the active revision, compiled once and
// reused until another revision becomes active. Applying a revision (from the
// CLI in another process, too) takes effect for the next connection, without
// a restart; a connection keeps the snapshot it started with.

import { compileSnapshot, type Snapshot } from './snapshot.ts';
import type { LegacyConfigStore } from '../store/config-store.ts';

export class SnapshotSource {
  private readonly store: LegacyConfigStore;
  private current: Snapshot;
  private readonly onChange: (snap: Snapshot) => void;

  constructor(store: LegacyConfigStore, onChange: (snap: Snapshot) => void = () => {}) {
    this.store = store;
    this.onChange = onChange;
    const active = store.active();
    if (!active) throw new Error('no active configuration revision');
    this.current = compileSnapshot(active.settings, active.number);
  }

  /** The snapshot last seen, without asking the store (for hot paths that call get() elsewhere regularly). */
  peek(): Snapshot {
    return this.current;
  }

  /** The newest snapshot; one cheap query decides whether to recompile. */
  get(): Snapshot {
    const number = this.store.activeNumber();
    if (number !== null && number !== this.current.revision) {
      const active = this.store.active();
      if (active) {
        this.current = compileSnapshot(active.settings, active.number);
        this.onChange(this.current);
      }
    }
    return this.current;
  }
}
