// The pieces that keep settings work off the daemon's event loop, on their
// own: the worker-thread checker gives the same answers as the inline one,
// refuses to queue without bound, and changes made concurrently against the
// same revision through it commit once (the other is a conflict); the
// per-account limit of settings work in flight.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigService } from '../../src/admin/config-service.ts';
import { CheckerBusy, inlineChecker, WorkerChecker } from '../../src/admin/checker.ts';
import { ConcurrentApplyError } from '../../src/store/config-store.ts';
import { openConfigStore } from '../../src/store/data-dir.ts';
import { WorkLimiter, WorkLimitExceeded } from '../../src/api/work-limit.ts';
import { tempDir } from '../cli/helpers.ts';

const META = { author: 'test', comment: 'test' };

test('the worker checker answers as the inline one; changes racing against one revision commit once', async (t) => {
  const store = openConfigStore(tempDir(t));
  t.after(() => store.close());
  const worker = new WorkerChecker();
  t.after(() => worker.close());
  const inline = new ConfigService(store, inlineChecker);
  const offloaded = inline.withChecker(worker);
  assert.ok(await inline.initialise(META));

  const body = JSON.stringify({ document: { ...(await inline.export()), hostname: 'other.example', users: [{ name: 'eve', password: 'x', groups: [] }] } });
  const [a, b] = [await inline.checkBodyText(body, 'all'), await offloaded.checkBodyText(body, 'all')];
  assert.deepEqual(b, a);
  assert.ok(a.ok && /too short/.test(a.json) && /"hostname"/.test(a.json));

  const results = await Promise.allSettled([
    offloaded.addUser({ name: 'alice', password: 'alice-password', groups: ['staff'] }, META),
    offloaded.addObject('networks', { name: 'lab', type: 'host', address: '10.0.0.1' }, META),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled' && r.value.ok && r.value.revision).length, 1, 'one landed');
  const lost = results.find((r) => r.status === 'rejected');
  assert.ok(lost && lost.reason instanceof ConcurrentApplyError, String(lost && (lost as PromiseRejectedResult).reason));
  assert.equal(await inline.activeRevision(), 2);
});

test('the worker checker refuses beyond its queue; the work limiter refuses beyond its count per account', async (t) => {
  const worker = new WorkerChecker({ maxPending: 2 });
  t.after(() => worker.close());
  const doc = { hostname: 'x.example' };
  const base = { revision: null, settings: null };
  const jobs = [worker.prepare(doc, base, 'refuse'), worker.prepare(doc, base, 'refuse')];
  await assert.rejects(worker.prepare(doc, base, 'refuse'), CheckerBusy);
  await Promise.all(jobs);
  assert.equal((await worker.prepare(doc, base, 'refuse')).ok, true, 'room again');

  const limiter = new WorkLimiter(2);
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const held = [limiter.run('vera', () => gate), limiter.run('vera', () => gate)];
  await assert.rejects(limiter.run('vera', async () => 1), WorkLimitExceeded);
  assert.equal(await limiter.run('olga', async () => 2), 2, 'another account is not affected');
  release();
  await Promise.all(held);
  assert.equal(await limiter.run('vera', async () => 3), 3);
});
