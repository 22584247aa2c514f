// The admin API must never hold up SMTP (issue #13): viewers hammering
// /api/settings/diff and /validate with large documents while a worker thread
// measures EHLO round trips on the same daemon's MX listener. Documents over
// the settings limit are refused before they are parsed (413); the ones
// under it are checked in the checker's thread, a few at a time per account
// (429 beyond).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { startWithApi, type Caller } from './client.ts';

/** A document whose check is expensive: `n` network objects, every one allowed to relay. */
function heavyDocument(n: number): string {
  const networks = Array.from({ length: n }, (_, i) => ({ name: `net-${i}`, type: 'network', address: `10.${(i >> 8) & 255}.${i & 255}.0/24` }));
  return JSON.stringify({ document: { networks, relaying: { allowed_hosts: networks.map((x) => x.name) } } });
}

test('viewers hammering settings diff/validate with large documents do not stall EHLO on the same daemon', async (t) => {
  const { api, password, relay } = await startWithApi(t);
  const admin = await api.login('admin', password);
  const viewers: Caller[] = [];
  for (const name of ['vera', 'vince', 'viola']) {
    assert.equal((await api.call('POST', '/api/admins', { body: { name, password: 'viewer-pass-1', role: 'viewer' }, as: admin })).status, 201);
    viewers.push(await api.login(name, 'viewer-pass-1'));
  }
  // 3.2 MB: under the old 4 MB body limit, 1.5–3 s of validation on the event loop.
  const huge = heavyDocument(42_000);
  // Just under the settings limit (512 KiB): accepted, and still most of a second to check.
  const large = heavyDocument(6_500);
  assert.ok(huge.length > 3_000_000 && large.length < 512 * 1024, `${huge.length} ${large.length}`);

  const probe = new Worker(new URL('./ehlo-probe.ts', import.meta.url), { workerData: { port: relay.ports.mx } });
  t.after(() => probe.terminate());
  const result = new Promise<number[]>((done, fail) => {
    probe.on('message', (m: { rtts?: number[] }) => m.rtts && done(m.rtts));
    probe.on('error', fail);
  });
  await new Promise<void>((done) => probe.once('message', () => done()));

  const statuses: number[] = [];
  const checked: boolean[] = [];
  const send = async (who: (typeof viewers)[number], path: string, body: string) => {
    const a = await api.call('POST', path, { raw: body, as: who });
    statuses.push(a.status);
    if (a.status === 200) checked.push(typeof a.json.ok === 'boolean');
    return a;
  };
  // Three viewers, three requests each at once, twice: the huge document, then the large one.
  for (const body of [huge, large]) {
    await Promise.all(viewers.flatMap((v) => [send(v, '/api/settings/diff', body), send(v, '/api/settings/validate', body), send(v, '/api/settings/diff', body)]));
  }
  // A viewer that waits its turn gets its large document checked.
  const turn = await send(viewers[0]!, '/api/settings/validate', large);
  probe.postMessage('stop');
  const rtts = await result;

  const max = Math.max(...rtts);
  t.diagnostic(`EHLO round trips: ${rtts.length}, max ${max.toFixed(0)} ms, slowest ${[...rtts].sort((a, b) => b - a).slice(0, 8).map((x) => x.toFixed(0)).join(" ")}; API answers ${JSON.stringify(statuses)}`);
  assert.ok(rtts.length >= 20, `too few EHLO samples (${rtts.length})`);
  assert.ok(max < 500, `an EHLO waited ${max.toFixed(0)} ms while the API was busy`);
  assert.deepEqual(statuses.slice(0, 9), Array(9).fill(413), 'a 3.2 MB document is over the settings limit');
  assert.ok(statuses.every((s) => [200, 413, 429, 503].includes(s)), JSON.stringify(statuses));
  assert.equal(turn.status, 200, turn.text);
  assert.equal(turn.json.ok, true);
  assert.ok(checked.length >= 1 && checked.every(Boolean));
});

test('validate and diff, read off the event loop, are as strict about their body as every other route', async (t) => {
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const typo = await api.call('POST', '/api/settings/validate', { body: { document: {}, comment: 'x', revison: 3 }, as: me });
  assert.equal(typo.status, 400);
  assert.match(typo.json.message, /body\.revison: unknown field/);
  const missing = await api.call('POST', '/api/settings/diff', { body: { comment: 'no document' }, as: me });
  assert.equal(missing.status, 400);
  assert.match(missing.json.message, /body\.document: is required/);
  assert.equal((await api.call('POST', '/api/settings/diff', { raw: '{"document": {', as: me })).status, 400, 'broken JSON');
  assert.equal((await api.call('POST', '/api/settings/validate', { body: { document: {}, revision: '3' }, as: me })).status, 400, 'no coercion');
  const ok = await api.call('POST', '/api/settings/diff', { body: { document: { hostname: 'other.example' } }, as: me });
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.headers['content-type'] as string, /^application\/json/);
  assert.ok(ok.json.changes.some((c: { path: string }) => c.path === 'hostname'));
});
