// The tracking routes (src/api/routes-tracking.ts) when the tracking store
// fails, which recorded traffic cannot make happen on demand: the routes on
// fastify with the memory tracking store, one of whose calls fails as a
// broken database would. A search or timeline that cannot be read is a 503
// saying so (and an api.error line), a cursor the store refuses a 400, the
// dashboard's top lists "unavailable" (and asked again next time), a
// recorder that cannot write does not stop the search.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { HttpError, type ApiDeps } from '../../src/api/server.ts';
import { registerTrackingRoutes } from '../../src/api/routes-tracking.ts';
import { MemoryTrackingStore } from '../../src/tracking/memory-tracking-store.ts';
import type { TrackingAccess } from '../../src/tracking/tracking-access.ts';
import type { TrackEntry } from '../../src/tracking/tracking-store.ts';

class BreakableStore extends MemoryTrackingStore {
  broken: string | null = null;
  override search(...a: Parameters<MemoryTrackingStore['search']>) {
    return this.broken ? Promise.reject(new Error(this.broken)) : super.search(...a);
  }
  override timeline(...a: Parameters<MemoryTrackingStore['timeline']>) {
    return this.broken ? Promise.reject(new Error(this.broken)) : super.timeline(...a);
  }
  override top(...a: Parameters<MemoryTrackingStore['top']>) {
    return this.broken ? Promise.reject(new Error(this.broken)) : super.top(...a);
  }
}

function entry(n: number, over: Partial<TrackEntry> = {}): TrackEntry {
  const at = Date.now() - 60_000 + n;
  return {
    key: `1m919ak8203pwhg${n}:0`, at, updated: at, node: 'mx1', cid: `cid${n}`, tx: 1, queue_id: `1m919ak8203pwhg${n}`, client: '10.1.2.3', helo: 'client.example', listener: 'mx', user: null,
    sender: 'alice@example.net', recipient: 'bob@example.com', message_id: null, subject: null, size: 420, kind: 'inbound', status: 'delivered', rule: 'delivery', code: 250, reply: '250 ok', attempts: 1, relay: null,
    rcpt_action: 'accept', rcpt_rule: 'rule 3', rcpt_code: 250, first: true, ...over,
  };
}

async function rig(access?: () => TrackingAccess) {
  const lines: { event: string; fields: Record<string, unknown> }[] = [];
  const app = Fastify({ logger: false });
  // The admin server's answer to an HttpError (src/api/server.ts), which is what the routes throw.
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) =>
    err instanceof HttpError ? reply.code(err.status).send({ statusCode: err.status, message: err.message }) : reply.code(err.statusCode ?? 500).send({ message: err.message }),
  );
  const deps = { logger: { log: (event: string, fields: Record<string, unknown> = {}) => void lines.push({ event, fields }), subscribe: () => () => {} }, ...(access ? { tracking: access } : {}) } as unknown as ApiDeps;
  registerTrackingRoutes(app, deps);
  await app.ready();
  return { app, lines, get: async (url: string) => ((r) => ({ status: r.statusCode, json: r.json() as any }))(await app.inject({ method: 'GET', url })) };
}

test('a store that does not answer: 503 naming the tracking store, and a log line; a refused cursor is a 400', async (t) => {
  const store = new BreakableStore();
  await store.write({ entries: [entry(1), entry(2, { sender: 'carol@example.net' })], updates: [], events: [] });
  const { app, lines, get } = await rig(() => ({ store }));
  t.after(() => app.close());
  assert.deepEqual((await get('/api/tracking?from=carol@example.net')).json.entries.map((e: TrackEntry) => e.sender), ['carol@example.net']);

  const bad = await get('/api/tracking?cursor=bm90LWEtY3Vyc29y');
  assert.deepEqual([bad.status, bad.json.message], [400, 'cursor: the cursor is not one a search gave']);

  store.broken = 'database disk image is malformed';
  for (const url of ['/api/tracking', '/api/tracking/1m919ak8203pwhg1']) {
    const a = await get(url);
    assert.equal(a.status, 503, url);
    assert.equal(a.json.message, 'the tracking store did not answer: database disk image is malformed');
  }
  assert.deepEqual(lines.map((l) => [l.event, l.fields.route]), [['api.error', 'tracking.search'], ['api.error', 'tracking.timeline']]);
  store.broken = null;
  assert.equal((await get('/api/tracking/1m919ak8203pwhg1')).json.entries.length, 1);
});

test('the top lists: "unavailable" with the reason while the store fails, asked again next time; off says so', async (t) => {
  const store = new BreakableStore();
  await store.write({ entries: [entry(1), entry(2), entry(3, { sender: 'carol@example.net' }), entry(4, { status: 'refused', rule: 'rule 4', code: 554, queue_id: null, key: 'cid4:1:0' })], updates: [], events: [] });
  store.broken = 'SQLITE_BUSY: database is locked';
  let on = true;
  const { app, get } = await rig(() => (on ? { store } : { off: 'message tracking is off (tracking.enabled: false in the settings): nothing is recorded or searched' }));
  t.after(() => app.close());
  const down = await get('/api/stats/top');
  assert.deepEqual([down.status, down.json.tracking, down.json.hour, down.json.day], [200, 'unavailable', null, null]);
  assert.equal(down.json.message, 'the tracking store did not answer: SQLITE_BUSY: database is locked');
  store.broken = null;
  const up = (await get('/api/stats/top')).json;
  assert.equal(up.tracking, 'on', 'a failure is not kept');
  assert.deepEqual(up.hour.senders, [{ key: 'alice@example.net', count: 2 }, { key: 'carol@example.net', count: 1 }]);
  assert.deepEqual(up.day.refusals, [{ key: 'rule 4', count: 1 }]);
  on = false;
  const off = (await get('/api/stats/top')).json;
  assert.deepEqual([off.tracking, off.hour], ['off', null], 'off counts at once, whatever was shared');
  const search = await get('/api/tracking');
  assert.deepEqual([search.status, search.json.message], [503, 'message tracking is off (tracking.enabled: false in the settings): nothing is recorded or searched']);
});

test('a recorder that cannot write does not stop the search; a node without tracking says so', async (t) => {
  const store = new MemoryTrackingStore();
  await store.write({ entries: [entry(1)], updates: [], events: [] });
  let flushed = 0;
  const { app, get } = await rig(() => ({ store, flush: () => (flushed++, Promise.reject(new Error('disk full'))) }));
  t.after(() => app.close());
  const a = await get('/api/tracking');
  assert.deepEqual([a.status, a.json.entries.length, flushed], [200, 1, 1]);
  const none = await rig();
  t.after(() => none.app.close());
  const b = await none.get('/api/tracking');
  assert.deepEqual([b.status, b.json.message], [503, 'message tracking is not available on this node']);
});
