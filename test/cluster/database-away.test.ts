// Issue #14: the database stopped under running nodes. While PostgreSQL is
// down every client of both nodes gets a 4xx (at the end of DATA while a
// node does not yet know, at MAIL once it does) and never a 250; when the
// database returns, each node notices by itself (`store.reachable`), without
// a restart, and accepts with 250 again; an Apply made afterwards reaches
// both (their change subscriptions came back too); every message that got a
// 250, before or after, reaches the sink.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrivals, clusterMissing, sendMany, sendOne, startCluster, waitArrivals, type SendResult } from './harness.ts';

test('the database away: 4xx and never 250 while it is down, recovery without a restart', { skip: clusterMissing() ?? false, timeout: 120_000 }, async (t) => {
  const c = await startCluster(t);
  const a = await c.startNode('a', { config: true });
  const b = await c.startNode('b');
  const nodes = [a, b];
  const pids = nodes.map((n) => n.child.pid);

  const accepted: string[] = [];
  for (const n of nodes) for (const i of [1, 2]) accepted.push(`before-${n.name}-${i}`), await sendOne(n.ports.mx, `before-${n.name}-${i}`);
  await waitArrivals(c.sink, accepted, 20_000);

  await c.pg.stop('immediate');
  const down = Date.now();
  const refused: [string, SendResult][] = [];
  for (const n of nodes) {
    // Two connections per node, three transactions each: the first finds out at its commit, the rest at MAIL.
    for (const k of [1, 2]) {
      const tags = [1, 2, 3].map((i) => `down-${n.name}-${k}-${i}`);
      for (const [tag, r] of await sendMany(n.ports.mx, tags)) refused.push([tag, r]);
    }
  }
  for (const [tag, r] of refused) {
    assert.notEqual(r.stage, 'queued', `${tag} was accepted (${r.reply}) while the database was down`);
    assert.match(r.reply, /^4\d\d[ -]/, `${tag} refused with a temporary error at ${r.stage}`);
  }
  const stages = new Map<string, number>();
  for (const [, r] of refused) stages.set(`${r.stage} ${r.reply.slice(0, 9)}`, (stages.get(`${r.stage} ${r.reply.slice(0, 9)}`) ?? 0) + 1);
  for (const n of nodes) await n.waitLog((l) => l.event === 'store.unreachable', 5_000);

  await c.pg.start();
  const up = Date.now();
  const recovered = await Promise.all(nodes.map((n) => n.waitLog((l) => l.event === 'store.reachable', 30_000)));
  const recoveryMs = recovered.map((l) => Date.parse(String(l.ts)) - up);
  for (const [i, n] of nodes.entries()) {
    assert.equal(n.child.exitCode, null, `node ${n.name} still runs`);
    assert.equal(n.child.pid, pids[i], `node ${n.name} was not restarted`);
  }

  for (const n of nodes) for (const i of [1, 2]) accepted.push(`after-${n.name}-${i}`), await sendOne(n.ports.mx, `after-${n.name}-${i}`);
  const rev = await c.apply({ hostname: 'mx-after.cluster.example' });
  await Promise.all(nodes.map((n) => n.waitLog((l) => l.event === 'revision.applied' && l.revision === rev.number, 10_000)));
  await waitArrivals(c.sink, accepted, 30_000);
  const have = arrivals(c.sink);
  for (const tag of accepted) assert.equal(have.get(tag), 1, `${tag} (answered 250) arrived once`);
  for (const [tag] of refused) assert.equal(have.has(tag), false, `${tag} was refused and must not be delivered`);

  t.diagnostic(`database down ${up - down} ms: ${refused.length} transactions refused (${[...stages].map(([k, v]) => `${v}× ${k}`).join(', ')}); store.reachable logged ${recoveryMs.join(' ms / ')} ms after the server accepted connections again`);
});
