// Issue #14: a node SIGKILLed while it delivers. The sink stalls at the end
// of DATA (it never answers), so node A holds its claims mid-transaction;
// `cluster status` shows them; A is SIGKILLed; node B claims the messages
// once A's lease (queue.lease: 2s, renewed every third of it) has run out
// and delivers every one of them. Nothing the sink stalled on was accepted
// there, so each message must arrive exactly once. The time from the kill to
// B's deliveries is measured and printed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditions } from '../support/conditions.ts';
import type { Answer } from '../delivery/sink.ts';
import { arrivals, clusterMissing, sendOne, startCluster, tagOf } from './harness.ts';

const LEASE_MS = 2_000;

test('a node killed mid-delivery: its claims are delivered by another node after the lease, none lost', { skip: clusterMissing() ?? false, timeout: 90_000 }, async (t) => {
  const stalled = new Set<string>();
  const held: ((a: Answer) => void)[] = [];
  const cond = conditions('kill-takeover');
  let stall = true;
  const c = await startCluster(t, {
    settings: { queue: { lease: `${LEASE_MS / 1000}s` } },
    sink: {
      data: (m) => {
        if (!stall) return undefined;
        stalled.add(tagOf(m));
        cond.changed();
        // Never answered while the node lives: the claim stays held. Released (as a 451) at the end.
        return new Promise<Answer>((resolve) => held.push(resolve));
      },
    },
  });
  t.after(() => held.forEach((r) => r({ code: 451, text: '4.3.0 test over' })));
  const a = await c.startNode('a', { config: true });
  const b = await c.startNode('b');

  const N = 5;
  const tags = Array.from({ length: N }, (_, i) => `killed-${i + 1}`);
  const ids = new Map<string, string>();
  for (const tag of tags) ids.set(tag, await sendOne(a.ports.mx, tag));
  await cond.waitFor(() => stalled.size >= 1, 'node a to be mid-transaction at the sink', 15_000);

  const status = await c.cli(['cluster', 'status', '--json']);
  assert.equal(status.status, 0, `cluster status: ${status.stderr}`);
  const nodes = (JSON.parse(status.stdout) as { nodes: { name: string; claims: number; healthy: boolean }[] }).nodes;
  assert.deepEqual(
    nodes.map((n) => [n.name, n.claims, n.healthy]).sort(),
    [
      ['a', N, true],
      ['b', 0, true],
    ],
    'node a holds the claims of all it accepted',
  );

  await a.kill();
  const killed = Date.now();
  // Only now: a message A finished at the sink before it died would be a true (allowed) duplicate, not a takeover.
  stall = false;
  const times: number[] = [];
  const seen = new Set<string>();
  const track = () => {
    for (const m of c.sink.messages) if (!seen.has(tagOf(m))) seen.add(tagOf(m)), times.push(Date.now() - killed);
  };
  while (seen.size < N) {
    await c.sink.waitFor(c.sink.messages.length + 1, LEASE_MS + 15_000);
    track();
  }

  for (const [tag, id] of ids) {
    assert.equal(arrivals(c.sink).get(tag), 1, `${tag} arrived exactly once`);
    await b.waitLog((l) => l.event === 'delivery' && l.status === 'delivered' && l.id === id, 5_000);
  }
  const first = Math.min(...times);
  const last = Math.max(...times);
  // A renews every third of the lease: its claims run out between 2/3 of a lease and a lease after the kill; never before.
  assert.ok(first >= (LEASE_MS * 2) / 3 - 200, `b waited for a's lease to run out (first takeover after ${first} ms)`);
  assert.ok(last <= LEASE_MS + 5_000, `b took over within the lease and 5 s (last after ${last} ms)`);
  t.diagnostic(`SIGKILL with ${stalled.size} message(s) mid-transaction and ${N} claimed; queue.lease ${LEASE_MS} ms; kill → first takeover delivery ${first} ms, → last ${last} ms; lost 0, duplicates 0`);
});
