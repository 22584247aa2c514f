// The personal sender lists as the RCPT check reads them: from memory. At
// start the set of owners that have lists is loaded; an RCPT to anyone else
// costs no query at all, and an owner's lists are read once and kept (a
// bounded map, oldest out first). Every change is announced by the store
// (in process, or LISTEN/NOTIFY in a cluster): that owner's lists are dropped
// and read again when next needed; a reconnect (changes maybe missed)
// reloads everything, and so does a periodic refresh, for a notification
// lost while the listening connection was away.
//
// A store that cannot answer makes a lookup answer 'unavailable' (the check
// then ignores the lists: never stricter or looser than the admin's policy);
// a failed load is retried at most every `retryMs`, so an outage does not
// turn into a query per RCPT.

import type { PortalStore } from './portal-store.ts';
import { addressKey, type SenderLists } from './sender-lists.ts';

export interface CompiledLists {
  readonly allow: ReadonlySet<string>;
  readonly block: ReadonlySet<string>;
}

export type ListLookup = CompiledLists | 'unavailable';

/** What the check asks (src/checks/sender-lists.ts). */
export interface SenderListLookup {
  /** The lists of a recipient address (any case); empty sets when it has none. */
  lookup(owner: string): Promise<ListLookup>;
}

const EMPTY: CompiledLists = { allow: new Set(), block: new Set() };

export interface CacheOptions {
  /** Owners whose lists are kept in memory (default 10,000). */
  maxCached?: number;
  /** At most this many owners are loaded; beyond, an owner not loaded is looked up (and kept) too. */
  maxOwners?: number;
  /** Everything is re-read this often (default 5 min): a notification lost is seen by then. */
  refreshMs?: number;
  /** After a failure the store is asked again at most this often (default 5 s). */
  retryMs?: number;
  now?: () => number;
}

export class SenderListCache implements SenderListLookup {
  private readonly store: PortalStore;
  private readonly maxCached: number;
  private readonly maxOwners: number;
  private readonly refreshMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  /** Owners with lists; null until loaded. */
  private owners: Set<string> | null = null;
  /** Whether `owners` holds every owner (fewer than maxOwners). */
  private complete = false;
  private readonly cached = new Map<string, CompiledLists>();
  private readonly pending = new Map<string, Promise<CompiledLists>>();
  private loading: Promise<void> | null = null;
  private failedAt = -Infinity;
  /** Bumped by every change: a read begun before it is not kept. */
  private generation = 0;
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(store: PortalStore, opts: CacheOptions = {}) {
    this.store = store;
    this.maxCached = opts.maxCached ?? 10_000;
    this.maxOwners = opts.maxOwners ?? 1_000_000;
    this.refreshMs = opts.refreshMs ?? 300_000;
    this.retryMs = opts.retryMs ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  /** Subscribes to changes and loads the owners (a failure is retried on use). */
  async start(): Promise<void> {
    this.unsubscribe = this.store.subscribe((owner) => this.changed(owner));
    this.timer = setInterval(() => this.changed(null), this.refreshMs);
    this.timer.unref();
    await this.load().catch(() => {});
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A change of one owner's lists, or of anything (null). */
  changed(owner: string | null): void {
    this.generation++;
    if (owner === null) {
      this.cached.clear();
      this.owners = null;
      this.failedAt = -Infinity;
      void this.load().catch(() => {});
      return;
    }
    const key = addressKey(owner);
    this.cached.delete(key);
    // Perhaps an owner now: its lists are read on the next RCPT (and it is dropped again when empty).
    this.owners?.add(key);
  }

  async lookup(owner: string): Promise<ListLookup> {
    const key = addressKey(owner);
    if (!this.owners) {
      if (this.now() - this.failedAt < this.retryMs) return 'unavailable';
      try {
        await this.load();
      } catch {
        return 'unavailable';
      }
    }
    const owners = this.owners;
    if (!owners) return 'unavailable';
    if (!owners.has(key) && this.complete) return EMPTY;
    const hit = this.cached.get(key);
    if (hit) return hit;
    // The store failed a moment ago: not asked again per RCPT until retryMs has passed.
    if (this.now() - this.failedAt < this.retryMs) return 'unavailable';
    try {
      return await this.read(key);
    } catch {
      this.failedAt = this.now();
      return 'unavailable';
    }
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      try {
        // A change announced while the owners were being read may be missing from them: read again (a few times at most).
        for (let round = 0; ; round++) {
          const generation = this.generation;
          const list = await this.store.owners(this.maxOwners);
          if (generation !== this.generation && round < 3) continue;
          this.owners = new Set(list);
          this.complete = list.length < this.maxOwners;
          return;
        }
      } catch (err) {
        this.failedAt = this.now();
        throw err;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  private read(key: string): Promise<CompiledLists> {
    let p = this.pending.get(key);
    if (p) return p;
    const generation = this.generation;
    p = this.store.lists(key).then((l: SenderLists) => {
      const compiled = l.allow.length || l.block.length ? { allow: new Set(l.allow), block: new Set(l.block) } : EMPTY;
      if (generation === this.generation) {
        if (compiled === EMPTY && this.complete) this.owners?.delete(key);
        else this.keep(key, compiled);
      }
      return compiled;
    });
    this.pending.set(key, p);
    const clear = () => this.pending.delete(key);
    p.then(clear, clear);
    return p;
  }

  private keep(key: string, lists: CompiledLists): void {
    this.cached.set(key, lists);
    while (this.cached.size > this.maxCached) {
      const oldest = this.cached.keys().next().value;
      if (oldest === undefined) break;
      this.cached.delete(oldest);
    }
  }
}
