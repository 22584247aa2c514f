// Issue #14: two nodes under load never deliver one claim twice except after
// a lease expiry. 300 messages go in through both nodes (three connections
// each); the sink defers every message's first attempt (451), so that every
// message falls due again a second later and both nodes' schedulers race
// for the same due work (FOR UPDATE SKIP LOCKED). Each message must arrive
// exactly once: a duplicate is allowed only for a claim a node lost (a
// `queue.claim_lost` line), and with the default 60 s lease none is lost here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrivals, clusterMissing, linesOf, sendMany, startCluster, tagOf, waitArrivals } from './harness.ts';

const MESSAGES = 300;
const CONNECTIONS_PER_NODE = 3;

test('two nodes under load deliver each claim once', { skip: clusterMissing() ?? false, timeout: 180_000 }, async (t) => {
  const deferred = new Set<string>();
  const c = await startCluster(t, {
    settings: { queue: { retry: { first: '1s', max: '2s' } } },
    sink: {
      data: (m) => {
        const tag = tagOf(m);
        if (deferred.has(tag)) return undefined;
        deferred.add(tag);
        return { code: 451, text: '4.3.0 try again (first attempt)' };
      },
    },
  });
  const a = await c.startNode('a', { config: true });
  const b = await c.startNode('b');
  const nodes = [a, b];

  const tags = Array.from({ length: MESSAGES }, (_, i) => `load-${i + 1}`);
  const batches = Array.from({ length: nodes.length * CONNECTIONS_PER_NODE }, (_, k) => tags.filter((_, i) => i % (nodes.length * CONNECTIONS_PER_NODE) === k));
  const t0 = Date.now();
  const results = await Promise.all(batches.map((batch, k) => sendMany(nodes[k % nodes.length]!.ports.mx, batch)));
  const sendMs = Date.now() - t0;
  for (const r of results) for (const [tag, res] of r) assert.equal(res.stage, 'queued', `${tag}: ${res.stage} ${res.reply}`);

  await waitArrivals(c.sink, tags, 120_000);
  const allMs = Date.now() - t0;
  // A node logs `delivery` (delivered) once the sink accepted; the lines travel over stdout, after the sink saw the message.
  const isSent = (l: { event: string; status?: unknown }) => l.event === 'delivery' && l.status === 'delivered';
  const sentCount = () => nodes.reduce((s, n) => s + n.logs.filter(isSent).length, 0);
  await Promise.race(nodes.map((n) => n.waitLog((l) => isSent(l) && sentCount() >= c.sink.messages.length, 10_000)));

  const have = arrivals(c.sink);
  const duplicates = [...have.values()].reduce((s, n) => s + n - 1, 0);
  const lost = nodes.flatMap((n) => linesOf(n, 'queue.claim_lost'));
  const sentBy = nodes.map((n) => `${n.name} ${linesOf(n, 'delivery').filter((l) => l.status === 'delivered').length}`);
  const deferredBy = nodes.map((n) => `${n.name} ${linesOf(n, 'delivery').filter((l) => l.status === 'deferred').length}`);
  t.diagnostic(
    `${MESSAGES} messages through 2 nodes: accepted in ${sendMs} ms, all delivered ${allMs} ms after the first; deliveries (delivered) by node: ${sentBy.join(', ')}; first attempts deferred by node: ${deferredBy.join(', ')}; duplicates at the sink ${duplicates}; queue.claim_lost lines ${lost.length}`,
  );
  for (const tag of tags) assert.ok(have.has(tag), `${tag} arrived`);
  assert.equal(deferred.size, MESSAGES, 'every message was deferred once, so every one was claimed again from the store');
  if (lost.length === 0) assert.equal(duplicates, 0, 'no lease expired, so no message may arrive twice');
  else assert.ok(duplicates <= lost.length, `${duplicates} duplicates, more than the ${lost.length} claims lost`);
  assert.equal(c.sink.messages.length, MESSAGES + duplicates);
  assert.equal(sentCount(), c.sink.messages.length, 'every arrival at the sink is one delivery logged by a node');
});
