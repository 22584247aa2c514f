// ConnectionLimits, the counting behind src/smtp/connection-gate.ts: a hit
// takes nothing, a release gives back exactly what was taken, and a proxy's
// connection takes its total slot first and its client's slot later.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLimits } from '../../src/smtp/connection-limits.ts';

test('per client and in total; a refusal takes no slot; releases give them back', () => {
  const l = new ConnectionLimits();
  assert.equal(l.acquire('a', 3, 2), null);
  assert.equal(l.acquire('a', 3, 2), null);
  assert.equal(l.acquire('a', 3, 2), 'max_connections_per_client');
  assert.equal(l.acquire('b', 3, 2), null);
  assert.equal(l.acquire('c', 3, 2), 'max_connections');
  assert.deepEqual([l.open, l.count('a'), l.count('b'), l.count('c')], [3, 2, 1, 0]);
  l.releaseTotal();
  l.releaseClient('a');
  assert.equal(l.acquire('c', 3, 2), null);
  assert.deepEqual([l.open, l.count('a'), l.count('c')], [3, 1, 1]);
});

test('a proxied connection: the total at accept, the named client after the header', () => {
  const l = new ConnectionLimits();
  assert.equal(l.acquire(null, 10, 1), null);
  assert.equal(l.acquire(null, 10, 1), null);
  assert.equal(l.open, 2);
  assert.equal(l.acquireClient('192.0.2.7', 1), null);
  assert.equal(l.acquireClient('192.0.2.7', 1), 'max_connections_per_client');
  assert.equal(l.count('192.0.2.7'), 1);
  l.releaseClient('192.0.2.7');
  l.releaseTotal();
  l.releaseTotal();
  assert.deepEqual([l.open, l.count('192.0.2.7')], [0, 0]);
  // Never below zero, whatever a double release does.
  l.releaseTotal();
  l.releaseClient('192.0.2.7');
  assert.deepEqual([l.open, l.count('192.0.2.7')], [0, 0]);
});
