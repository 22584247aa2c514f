// The snapshot new connections pin: the active revision, compiled once and
// kept in memory. get() and peek() answer from that cache without asking the
// store (a new connection costs no store round trip); the cache follows the
// store through subscribe(): an apply in this process, another process on
// the same data directory (the CLI; it also asks the daemon to refresh over
// the control socket), or another node of a cluster. A connection keeps the
// snapshot it started with.

import { compileSnapshot, type Snapshot } from './snapshot.ts';
import type { ConfigStore, Revision } from '../store/config-store.ts';

export class SnapshotSource {
  private readonly store: ConfigStore;
  private current: Snapshot;
  private readonly onChange: (snap: Snapshot) => void;
  private unsubscribe: () => void = () => {};
  /** Refreshes run one after another, so that an older answer never overwrites a newer one. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(store: ConfigStore, first: Revision, onChange: (snap: Snapshot) => void) {
    this.store = store;
    this.onChange = onChange;
    this.current = compileSnapshot(first.settings, first.number);
  }

  /** Reads the active revision once and follows the store from then on. */
  static async open(store: ConfigStore, onChange: (snap: Snapshot) => void = () => {}): Promise<SnapshotSource> {
    const active = await store.active();
    if (!active) throw new Error('no active configuration revision');
    const source = new SnapshotSource(store, active, onChange);
    source.unsubscribe = store.subscribe((n) => {
      if (n !== source.current.revision) void source.refresh().catch(() => {});
    });
    // A revision applied between the read and the subscription would otherwise wait for the next one.
    await source.refresh();
    return source;
  }

  /** The snapshot in force. */
  get(): Snapshot {
    return this.current;
  }

  /** The same as get(): kept for the callers that read settings many times per message. */
  peek(): Snapshot {
    return this.current;
  }

  /** Asks the store for the active revision and takes it when it is another one; resolves with the snapshot in force. */
  refresh(): Promise<Snapshot> {
    const next = this.chain.then(async () => {
      const n = await this.store.activeNumber();
      if (n === null || n <= this.current.revision) return this.current;
      const active = await this.store.active();
      if (active) this.take(active);
      return this.current;
    });
    this.chain = next.catch(() => {});
    return next;
  }

  /** Takes a revision in hand (one this process just applied): in force before the caller answers. */
  take(rev: Revision): void {
    // Numbers only grow: an answer older than what is in force (a slow read racing an apply) is dropped.
    if (rev.number <= this.current.revision) return;
    this.current = compileSnapshot(rev.settings, rev.number);
    this.onChange(this.current);
  }

  close(): void {
    this.unsubscribe();
  }
}
