// The dashboard's "deferred" per minute counts messages, as the queue card
// does: a message deferred for several recipients, or again at its next
// attempt within the hour, is counted once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stats } from '../../src/api/stats.ts';

test('a message deferred for two recipients and again later in the hour counts once', () => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 30);
  const s = new Stats(() => now);
  s.observe('delivery', { id: 'm1', recipient: 'a@x.example', status: 'deferred' });
  s.observe('delivery', { id: 'm1', recipient: 'b@x.example', status: 'deferred' });
  s.observe('delivery', { id: 'm2', recipient: 'a@x.example', status: 'deferred' });
  s.observe('delivery', { id: 'm3', recipient: 'a@x.example', status: 'delivered' });
  now += 10 * 60_000;
  s.observe('delivery', { id: 'm1', recipient: 'a@x.example', status: 'deferred' });
  const total = s.series().reduce((n, m) => n + m.deferred, 0);
  assert.equal(total, 2);
  // An hour after its first deferral, a message still deferred is counted again in the new hour.
  now += 60 * 60_000;
  s.observe('delivery', { id: 'm1', recipient: 'a@x.example', status: 'deferred' });
  assert.equal(s.series().reduce((n, m) => n + m.deferred, 0), 1);
});
