// Issue #15: a node SIGKILLed while it delivers and restarted at once on its
// data directory (as systemd's Restart=on-failure does) takes its name back
// and gives up its dead process's claims at once (`queue.claims_released`),
// so that its in-flight mail moves within seconds of the restart instead of
// when the leases run out (queue.lease, 60 s by default: 40-60 s after the
// crash). The next hop stalls at the end of DATA until the kill, so nothing
// was accepted there before it: each message must arrive exactly once. When
// the database is away at the first restart (systemd tries again), the failed
// start hands the dead process on to the next one, which still releases.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditions } from '../support/conditions.ts';
import type { Answer } from '../delivery/sink.ts';
import { arrivals, clusterMissing, linesOf, sendOne, startCluster, tagOf, waitArrivals } from './harness.ts';
import { runCli } from '../smtp/harness.ts';

test('a node killed mid-delivery and restarted at once delivers its in-flight mail at once, not after the lease', { skip: clusterMissing() ?? false, timeout: 120_000 }, async (t) => {
  const stalled = new Set<string>();
  const held: ((a: Answer) => void)[] = [];
  const cond = conditions('kill-restart');
  let stall = true;
  const c = await startCluster(t, {
    // The default lease, said out loud: without the release, the mail would wait 40-60 s.
    settings: { queue: { lease: '60s' } },
    sink: {
      data: (m) => {
        if (!stall) return undefined;
        stalled.add(tagOf(m));
        cond.changed();
        return new Promise<Answer>((resolve) => held.push(resolve));
      },
    },
  });
  t.after(() => held.forEach((r) => r({ code: 451, text: '4.3.0 test over' })));
  const a = await c.startNode('a', { config: true });
  const tags = Array.from({ length: 5 }, (_, i) => `restart-${i + 1}`);
  for (const tag of tags) await sendOne(a.ports.mx, tag);
  await cond.waitFor(() => stalled.size >= 1, 'node a to be mid-transaction at the sink', 15_000);

  await a.kill();
  const killed = Date.now();
  stall = false;
  const again = await c.startNode('a', { data: a.dataDir });
  const released = await again.waitLog((l) => l.event === 'queue.claims_released', 5_000);
  assert.equal(released.claims, tags.length, 'every claim of the dead process was given up');
  await waitArrivals(c.sink, tags, 30_000);
  const ms = Date.now() - killed;
  assert.ok(ms < 40_000, `delivered ${ms} ms after the kill: sooner than the 60 s lease could have run out (at least 40 s)`);
  for (const tag of tags) assert.equal(arrivals(c.sink).get(tag), 1, `${tag} arrived once`);
  assert.deepEqual(linesOf(again, 'queue.claim_lost'), []);
  t.diagnostic(`SIGKILL with ${tags.length} claims (queue.lease 60 s), restart on the same data directory: claims released ${released.claims}, all delivered ${ms} ms after the kill`);
});

test('a restart that fails while the database is away keeps the dead process for the next one, which releases its claims', { skip: clusterMissing() ?? false, timeout: 120_000 }, async (t) => {
  const held: ((a: Answer) => void)[] = [];
  let stall = true;
  const c = await startCluster(t, {
    settings: { queue: { lease: '60s' } },
    sink: { data: () => (stall ? new Promise<Answer>((resolve) => held.push(resolve)) : undefined) },
  });
  t.after(() => held.forEach((r) => r({ code: 451, text: '4.3.0 test over' })));
  const a = await c.startNode('a', { config: true });
  const tags = ['away-1', 'away-2', 'away-3'];
  for (const tag of tags) await sendOne(a.ports.mx, tag);
  await a.kill();
  stall = false;
  await c.pg.stop('fast');
  const failed = await runCli(['start', '--store', c.url, '--node', 'a', '--listen', 'mx=127.0.0.1:0', '--data', a.dataDir]);
  assert.equal(failed.status, 1, `the start fails while the database is away: ${failed.stderr}`);
  await c.pg.start();
  const again = await c.startNode('a', { data: a.dataDir });
  const released = await again.waitLog((l) => l.event === 'queue.claims_released', 5_000);
  assert.equal(released.claims, tags.length);
  await waitArrivals(c.sink, tags, 30_000);
  for (const tag of tags) assert.equal(arrivals(c.sink).get(tag), 1, `${tag} arrived once`);
});
