// cluster status: which nodes are healthy, what they hold, and the table.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterStatus, formatClusterStatus } from '../../src/cluster/cluster-status.ts';
import type { NodeInfo } from '../../src/store/node-registry.ts';

const node = (name: string, heartbeat: number, revision: number | null): NodeInfo => ({
  name,
  heartbeat,
  started: heartbeat - 60_000,
  revision,
  listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }],
  version: '0.1.0',
  pid: 42,
});

test('a node is unhealthy without a recent heartbeat or on an old revision; claims are counted per node and orphaned', () => {
  const now = 1_000_000;
  const s = clusterStatus({
    store: 'postgresql',
    activeRevision: 7,
    nodes: [node('b', now - 30_000, 7), node('a', now - 1_000, 7), node('c', now - 2_000, 6)],
    claims: new Map([
      ['a', 3],
      ['gone', 2],
    ]),
    now,
    staleMs: 15_000,
  });
  assert.deepEqual(
    s.nodes.map((n) => [n.name, n.healthy, n.claims]),
    [
      ['a', true, 3],
      ['b', false, 0],
      ['c', false, 0],
    ],
  );
  assert.match(s.nodes[1]?.problem ?? '', /no heartbeat for 30 s/);
  assert.match(s.nodes[2]?.problem ?? '', /runs revision 6, the active one is 7/);
  assert.equal(s.orphan_claims, 2);
  const text = formatClusterStatus(s);
  assert.match(text, /^healthy {3}a {2}revision 7 .*claims 3 {2}mx=127\.0\.0\.1:2525$/m);
  assert.match(text, /^UNHEALTHY b /m);
  assert.match(text, /2 message\(s\) claimed by nodes that are gone/);
});
