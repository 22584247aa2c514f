// The spool's census (QueueCensus) kept in memory, so that a metrics scrape
// does not read every envelope on disk: each queued message's state and
// arrival time, noted wherever FileQueueStore learns a new envelope (open,
// commit, update, settle, release) and forgotten when the message goes.
// A few dozen octets per queued message; the quarantine is counted on disk.

import { stateOf, type Envelope, type QueueState } from './envelope.ts';
import type { QueueCensus, QueueStore } from './queue-store.ts';

export class CensusBook {
  private readonly entries = new Map<string, { state: QueueState; at: number }>();

  note(env: Envelope): void {
    const at = Date.parse(env.received_at);
    this.entries.set(env.id, { state: stateOf(env), at: Number.isFinite(at) ? at : 0 });
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }

  census(quarantined: number): QueueCensus {
    const out: QueueCensus = { queued: { count: 0, oldest: null }, deferred: { count: 0, oldest: null }, held: { count: 0, oldest: null }, quarantined };
    for (const { state, at } of this.entries.values()) {
      const s = out[state];
      s.count++;
      if (s.oldest === null || at < s.oldest) s.oldest = at;
    }
    return out;
  }
}

/** The census of a store that has no census() of its own: from its listings (every envelope read). */
export async function censusByListing(store: Pick<QueueStore, 'list'>): Promise<QueueCensus> {
  const book = new CensusBook();
  for (const env of await store.list('queue')) book.note(env);
  return book.census((await store.list('quarantine')).length);
}
