// Issue #15: a node whose clock is off by a minute does not steal live
// leases. Node A (right clock) accepts three messages and delivers them to a
// sink that stalls at the end of DATA, so A holds their claims (a 10 s lease,
// renewed). Node B starts with its clock a minute ahead
// (MAILWARDEN_TEST_CLOCK_OFFSET_MS, a test knob): by its clock every one of
// A's leases ran out long ago. Leases are judged on the database's clock, so
// B takes none of them — not at its start, not when an Apply wakes its
// scheduler — while it does deliver mail of its own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditions } from '../support/conditions.ts';
import type { Answer } from '../delivery/sink.ts';
import { clusterMissing, sendOne, startCluster, tagOf, waitArrival } from './harness.ts';

const LEASE_MS = 10_000;
const SKEW_MS = 60_000;

test('a node whose clock is a minute ahead takes none of the live leases another node holds', { skip: clusterMissing() ?? false, timeout: 120_000 }, async (t) => {
  const atData = new Map<string, number>();
  const held: ((a: Answer) => void)[] = [];
  const cond = conditions('clock-skew');
  const c = await startCluster(t, {
    settings: { queue: { lease: `${LEASE_MS / 1000}s` } },
    sink: {
      data: (m) => {
        const tag = tagOf(m);
        if (!tag.startsWith('held-')) return undefined;
        atData.set(tag, (atData.get(tag) ?? 0) + 1);
        cond.changed();
        // Never answered while the test runs: the delivering node keeps its claim. Released (451) at the end.
        return new Promise<Answer>((resolve) => held.push(resolve));
      },
    },
  });
  t.after(() => held.forEach((r) => r({ code: 451, text: '4.3.0 test over' })));
  const a = await c.startNode('a', { config: true });
  const tags = ['held-1', 'held-2', 'held-3'];
  for (const tag of tags) await sendOne(a.ports.mx, tag);
  await cond.waitFor(() => atData.size >= 1, 'node a mid-transaction at the sink', 15_000);

  const b = await c.startNode('b', { env: { MAILWARDEN_TEST_CLOCK_OFFSET_MS: String(SKEW_MS) } });
  const offset = await b.waitLog((l) => l.event === 'clock.test_offset', 5_000);
  assert.equal(offset.offset_ms, SKEW_MS, 'node b runs a minute ahead');
  // b claimed due work at its start; an Apply wakes its scheduler to claim again.
  const rev = await c.apply({ hostname: 'mx-skew.cluster.example' });
  await b.waitLog((l) => l.event === 'revision.applied' && l.revision === rev.number, 15_000);
  // Mail of b's own is delivered (b's delivery works, its clock notwithstanding) and, once it is removed, b holds nothing.
  const probeId = await sendOne(b.ports.mx, 'probe-b');
  // A b that stole a's messages would be stuck delivering them (the sink stalls): the checks below say so first.
  const probeDone = await waitArrival(c.sink, 'probe-b', 15_000)
    .then(() => b.waitLog((l) => l.event === 'queue.removed' && l.id === probeId, 15_000))
    .then(() => null, (err: Error) => err.message);

  const status = await c.cli(['cluster', 'status', '--json']);
  const nodes = (JSON.parse(status.stdout) as { nodes: { name: string; claims: number }[] }).nodes;
  assert.deepEqual(
    nodes.map((n) => [n.name, n.claims]).sort(),
    [
      ['a', 3],
      ['b', 0],
    ],
    `node a still holds its three claims, node b took none (${status.stdout})`,
  );
  for (const [tag, n] of atData) assert.equal(n, 1, `${tag} reached the sink's DATA once (never a second delivery by b)`);
  assert.equal(b.logs.filter((l) => l.event === 'delivery' && l.id !== probeId).length, 0, 'node b delivered nothing of a\'s');
  assert.equal(a.logs.filter((l) => l.event === 'queue.claim_lost').length, 0, 'node a lost no claim');
  assert.equal(probeDone, null, 'node b delivered its own message and removed it');
  t.diagnostic(`node b ${SKEW_MS / 1000} s ahead, queue.lease ${LEASE_MS / 1000} s: a kept ${nodes.find((n) => n.name === 'a')?.claims} claims (${atData.size} mid-transaction at the sink), b took 0 and delivered its own message`);
});
