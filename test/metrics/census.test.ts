// The queue's census kept in memory (src/queue/queue-census.ts): states as
// stateOf() tells them, the oldest of each, notes replacing earlier ones,
// forgetting; and the census of a store without census() of its own, from
// its listings. (The adapters' census() is in the QueueStore contract.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CensusBook, censusByListing } from '../../src/queue/queue-census.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import type { QueueArea } from '../../src/queue/queue-store.ts';
import { envelopeFields } from '../support/envelope.ts';

const T0 = Date.parse('2026-05-01T12:00:00Z');
const env = (id: string, s: number, over: Partial<Envelope> = {}): Envelope => ({ ...envelopeFields({ received_at: new Date(T0 + s * 1000).toISOString(), ...over }), id, size: 10 }) as Envelope;
const deferred: Partial<Envelope> = { recipients: [{ address: 'b@example.org', kind: 'relay', rule: 'rule 4', status: 'deferred', next_attempt: new Date(T0).toISOString() }] };

test('CensusBook: counts and oldest by state; a new note replaces the old; forget removes', () => {
  const b = new CensusBook();
  b.note(env('a', 5));
  b.note(env('b', 3));
  b.note(env('c', 9, deferred));
  b.note(env('d', 1, { held: true }));
  assert.deepEqual(b.census(2), { queued: { count: 2, oldest: T0 + 3000 }, deferred: { count: 1, oldest: T0 + 9000 }, held: { count: 1, oldest: T0 + 1000 }, quarantined: 2 });
  b.note(env('b', 3, deferred));
  b.forget('d');
  b.forget('nonexistent');
  assert.deepEqual(b.census(0), { queued: { count: 1, oldest: T0 + 5000 }, deferred: { count: 2, oldest: T0 + 3000 }, held: { count: 0, oldest: null }, quarantined: 0 });
  b.clear();
  assert.equal(b.census(0).queued.count, 0);
});

test('censusByListing: from list() of the queue and the quarantine', async () => {
  const lists: Record<QueueArea, Envelope[]> = { queue: [env('a', 2), env('b', 4, deferred)], quarantine: [env('q', 0), env('r', 1)] };
  const c = await censusByListing({ list: async (area: QueueArea = 'queue') => lists[area] });
  assert.deepEqual(c, { queued: { count: 1, oldest: T0 + 2000 }, deferred: { count: 1, oldest: T0 + 4000 }, held: { count: 0, oldest: null }, quarantined: 2 });
});
