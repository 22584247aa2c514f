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

  // A client retries a 4xx, as SMTP clients do. A node may report the database away once more just
  // after it came back (a call begun during the outage failing late): such a refusal is counted, and
  // the retry waits for the node's next store.reachable line, never longer than 10 s, at most 3 times.
  let lateRefusals = 0;
  for (const n of nodes) {
    for (const i of [1, 2]) {
      const tag = `after-${n.name}-${i}`;
      for (let attempt = 1; ; attempt++) {
        const r = (await sendMany(n.ports.mx, [tag])).get(tag)!;
        if (r.stage === 'queued') break;
        assert.match(r.reply, /^4\d\d[ -]/, `${tag} after recovery: ${r.stage} ${r.reply}`);
        const trail = n.logs.filter((l) => l.event.startsWith('store.')).map((l) => `${l.ts} ${l.event} ${String(l.error ?? '')}`);
        assert.ok(attempt < 3, `${tag} still refused after recovery (${r.stage} ${r.reply}); node ${n.name}'s store lines:\n${trail.join('\n')}`);
        lateRefusals++;
        t.diagnostic(`after recovery, node ${n.name} refused ${tag}: ${r.stage} ${r.reply}; its store lines: ${trail.join(' | ')}`);
        const reachable = n.logs.filter((l) => l.event === 'store.reachable').length;
        await n.waitLogs((l) => l.event === 'store.reachable', reachable + 1, 10_000);
      }
      accepted.push(tag);
    }
  }
  const rev = await c.apply({ hostname: 'mx-after.cluster.example' });
  await Promise.all(nodes.map((n) => n.waitLog((l) => l.event === 'revision.applied' && l.revision === rev.number, 10_000)));
  await waitArrivals(c.sink, accepted, 30_000);
  const have = arrivals(c.sink);
  for (const tag of accepted) assert.equal(have.get(tag), 1, `${tag} (answered 250) arrived once`);
  for (const [tag] of refused) assert.equal(have.has(tag), false, `${tag} was refused and must not be delivered`);

  t.diagnostic(`database down ${up - down} ms: ${refused.length} transactions refused (${[...stages].map(([k, v]) => `${v}× ${k}`).join(', ')}); store.reachable logged ${recoveryMs.join(' ms / ')} ms after the server accepted connections again; ${lateRefusals} refusal(s) after that`);
});
