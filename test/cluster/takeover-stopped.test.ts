// Issue #14: mail accepted on node A is delivered by node B when A is stopped
// before delivering. Delivery is off in the shared settings while A accepts
// (delivery.enabled is a revision setting, so it is off on every node: the
// mail can only wait in the store); A is stopped with SIGTERM; an Apply
// through the CLI turns delivery on, and B, which never saw the mail arrive,
// delivers every message once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrivals, clusterMissing, linesOf, sendOne, startCluster, waitArrivals } from './harness.ts';

test('mail accepted on node A and left queued is delivered by node B after A stops', { skip: clusterMissing() ?? false, timeout: 90_000 }, async (t) => {
  const c = await startCluster(t, { settings: { delivery: { enabled: false } } });
  const a = await c.startNode('a', { config: true });
  const b = await c.startNode('b');

  const tags = ['stopped-1', 'stopped-2', 'stopped-3'];
  const ids = new Map<string, string>();
  for (const tag of tags) ids.set(tag, await sendOne(a.ports.mx, tag));

  assert.equal(await a.stop(), 0, `node a stopped cleanly; stderr: ${a.stderr()}`);
  assert.equal(c.sink.messages.length, 0, 'nothing was delivered while delivery was off');

  const rev = await c.apply({ delivery: { enabled: true } });
  const applied = await b.waitLog((l) => l.event === 'revision.applied' && l.revision === rev.number, 5_000);
  await waitArrivals(c.sink, tags, 20_000);
  const ms = Date.now() - Date.parse(String(applied.ts));

  for (const [tag, id] of ids) {
    assert.equal(arrivals(c.sink).get(tag), 1, `${tag} arrived once`);
    // The log line travels over stdout, the message over SMTP: wait for it rather than look once.
    await b.waitLog((l) => l.event === 'delivery' && l.status === 'delivered' && l.id === id, 5_000);
  }
  assert.equal(linesOf(a, 'delivery').length, 0, 'node a delivered nothing');
  t.diagnostic(`3 messages accepted by a (stopped), delivered by b ${ms} ms after b took the Apply that turned delivery on (revision.applied on b → last arrival at the sink)`);
});
