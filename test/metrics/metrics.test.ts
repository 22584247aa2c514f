// DaemonMetrics (src/metrics/metrics.ts) in-process: a registry of its own
// (the global one stays empty), events through to the exposition, the
// scrape-time gauges from their sources, and a store that does not answer:
// the scrape still answers within its bound, the queue's gauges are absent,
// a store error is counted, and a hung store is not asked again meanwhile.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { DaemonMetrics, type ScrapeSources } from '../../src/metrics/metrics.ts';
import { CATALOGUE } from '../../src/metrics/catalogue.ts';
import type { QueueCensus } from '../../src/queue/queue-store.ts';
import { parseExposition, series, value } from './exposition.ts';

const NOW = Date.parse('2026-05-01T12:00:00Z');

const CENSUS: QueueCensus = { queued: { count: 3, oldest: NOW - 90_000 }, deferred: { count: 2, oldest: NOW - 7_200_000 }, held: { count: 0, oldest: null }, quarantined: 4 };

function sources(over: Partial<ScrapeSources> = {}): ScrapeSources & { censusCalls: number } {
  const s = {
    censusCalls: 0,
    config: () => ({ revision: 12, openRelay: false }),
    sessions: () => [
      { listener: 'mx', open: 5 },
      { listener: 'submission', open: 0 },
    ],
    census: async () => {
      s.censusCalls++;
      return CENSUS;
    },
    store: () => ({ kind: 'embedded', reachable: true }),
    version: '9.9.9',
    ...over,
  };
  return s;
}

async function scrape(m: DaemonMetrics) {
  const { contentType, body } = await m.exposition();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  return parseExposition(body);
}

test('a registry of its own: the global one is untouched; every catalogue metric is declared with its type; Node defaults are prefixed', async () => {
  const m = new DaemonMetrics(sources(), { now: () => NOW });
  const f = await scrape(m);
  for (const def of CATALOGUE) assert.equal(f.get(def.name)?.type, def.type, def.name);
  assert.ok(f.get('mailwarden_process_cpu_user_seconds_total'), 'collectDefaultMetrics with the prefix');
  assert.ok(f.get('mailwarden_nodejs_heap_size_used_bytes'));
  assert.equal((await globalRegistry.metrics()).includes('mailwarden_'), false);
  const bare = await scrape(new DaemonMetrics(sources(), { defaults: false }));
  assert.equal(bare.get('mailwarden_process_cpu_user_seconds_total'), undefined);
});

test('scrape-time gauges: sessions by listener, the queue by state with the oldest age, quarantine, revision, open relay, store, build', async () => {
  const m = new DaemonMetrics(sources({ config: () => ({ revision: 12, openRelay: true }) }), { now: () => NOW, defaults: false });
  const f = await scrape(m);
  assert.equal(value(f, 'mailwarden_smtp_sessions_open', { listener: 'mx' }), 5);
  assert.equal(series(f, 'mailwarden_smtp_sessions_open').length, 2);
  assert.equal(value(f, 'mailwarden_queue_messages', { state: 'queued' }), 3);
  assert.equal(value(f, 'mailwarden_queue_messages', { state: 'deferred' }), 2);
  assert.equal(value(f, 'mailwarden_queue_messages', { state: 'held' }), 0);
  assert.equal(value(f, 'mailwarden_queue_oldest_message_age_seconds', { state: 'queued' }), 90);
  assert.equal(value(f, 'mailwarden_queue_oldest_message_age_seconds', { state: 'deferred' }), 7200);
  assert.deepEqual(series(f, 'mailwarden_queue_oldest_message_age_seconds', { state: 'held' }), [], 'no held message: no age');
  assert.equal(value(f, 'mailwarden_quarantine_messages'), 4);
  assert.equal(value(f, 'mailwarden_config_revision'), 12);
  assert.equal(value(f, 'mailwarden_config_open_relay'), 1);
  assert.equal(value(f, 'mailwarden_store_reachable', { store: 'embedded' }), 1);
  assert.equal(value(f, 'mailwarden_build_info', { version: '9.9.9', store: 'embedded' }), 1);
});

test('two listeners whose names are not fit for a label: one `other` series, their sessions summed', async () => {
  const m = new DaemonMetrics(
    sources({
      sessions: () => [
        { listener: 'a@b.c', open: 2 },
        { listener: 'mx\nsecond line', open: 3 },
        { listener: 'mx', open: 1 },
      ],
    }),
    { now: () => NOW, defaults: false },
  );
  const { body } = await m.exposition();
  // The strict parser throws on a series seen twice; check by hand as well.
  const f = parseExposition(body);
  const lines = body.split('\n').filter((l) => l.startsWith('mailwarden_smtp_sessions_open{'));
  assert.equal(new Set(lines.map((l) => l.slice(0, l.lastIndexOf(' ')))).size, lines.length, lines.join('\n'));
  assert.equal(value(f, 'mailwarden_smtp_sessions_open', { listener: 'other' }), 5);
  assert.equal(value(f, 'mailwarden_smtp_sessions_open', { listener: 'mx' }), 1);
  assert.equal(series(f, 'mailwarden_smtp_sessions_open').length, 2);
});

test('one census per scrape: the four queue gauges share it', async () => {
  const s = sources();
  const m = new DaemonMetrics(s, { now: () => NOW, defaults: false });
  await scrape(m);
  assert.equal(s.censusCalls, 1);
});

test('a store that never answers: the scrape answers at the timeout without the queue gauges, counts a store error, and does not ask again while it hangs', async () => {
  let calls = 0;
  const s = sources({
    census: () => {
      calls++;
      return new Promise<QueueCensus>(() => {});
    },
  });
  let clock = NOW;
  const m = new DaemonMetrics(s, { censusTimeoutMs: 200, defaults: false, now: () => clock });
  const t0 = performance.now();
  const f = await scrape(m);
  const took = performance.now() - t0;
  assert.ok(took >= 150 && took < 2_000, `answered at the timeout (${took.toFixed(0)} ms)`);
  assert.deepEqual(series(f, 'mailwarden_queue_messages'), []);
  assert.deepEqual(series(f, 'mailwarden_quarantine_messages'), []);
  assert.deepEqual(series(f, 'mailwarden_queue_oldest_message_age_seconds'), []);
  assert.equal(value(f, 'mailwarden_config_revision'), 12, 'the other gauges are there');
  assert.equal(value(f, 'mailwarden_store_errors_total', { store: 'queue' }), 1);
  clock += 5_000;
  const t1 = performance.now();
  const again = await scrape(m);
  assert.ok(performance.now() - t1 < 150, 'the next scrape does not wait on the hung store');
  assert.equal(calls, 1, 'the hung store was not asked again');
  assert.equal(value(again, 'mailwarden_store_errors_total', { store: 'queue' }), 2);
});

test('a store that fails: the queue gauges are absent and a store error counted; the next scrape asks again and gets them', async () => {
  let fail = true;
  let clock = NOW;
  const m = new DaemonMetrics(
    sources({
      census: async () => {
        if (fail) throw new Error('connection refused');
        return CENSUS;
      },
    }),
    { defaults: false, now: () => clock },
  );
  const f = await scrape(m);
  assert.deepEqual(series(f, 'mailwarden_queue_messages'), []);
  assert.equal(value(f, 'mailwarden_store_errors_total', { store: 'queue' }), 1);
  fail = false;
  clock += 2_000;
  const g = await scrape(m);
  assert.equal(value(g, 'mailwarden_queue_messages', { state: 'queued' }), 3);
  assert.equal(value(g, 'mailwarden_store_errors_total', { store: 'queue' }), 1);
});

test('events move the counters; no label ever carries a client address, whatever the event holds', async () => {
  const m = new DaemonMetrics(sources(), { defaults: false, now: () => NOW });
  m.observe('connect', { cid: 'c', client: '198.51.100.23', listener: 'mx', action: 'accept', rule: 'rule 3' });
  m.observe('connect', { cid: 'c', client: '198.51.100.23', listener: 'mx', action: 'reject', rule: 'rule 1' });
  // A rule built from input (no check does this today): the guard makes it "other".
  m.observe('rcpt', { client: '198.51.100.23', action: 'reject', code: 554, rule: 'blocked 198.51.100.23' });
  m.observe('rcpt', { client: '2001:db8::7', action: 'reject', code: 550, rule: '2001:db8::7' });
  m.observe('rcpt', { action: 'reject', code: 550, rule: 'someone@example.com' });
  for (let i = 0; i < 3; i++) m.observe('queued', { client: '198.51.100.23', sender: 's@x', relayed: true, reply_ms: 4 });
  const f = await scrape(m);
  assert.equal(value(f, 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'accepted' }), 1);
  assert.equal(value(f, 'mailwarden_smtp_refusals_total', { stage: 'connect', rule: 'rule 1', code_class: '5xx' }), 1);
  assert.equal(value(f, 'mailwarden_smtp_refusals_total', { stage: 'rcpt', rule: 'other' }), 3);
  assert.equal(value(f, 'mailwarden_messages_accepted_total', { kind: 'relay', outcome: 'queued' }), 3);
  assert.equal(value(f, 'mailwarden_smtp_data_reply_seconds_count', { kind: 'relay' }), 3);
  assert.equal(value(f, 'mailwarden_smtp_data_reply_seconds_bucket', { kind: 'relay', le: '0.005' }), 3);
  for (const fam of f.values()) for (const s of fam.samples) for (const v of Object.values(s.labels)) assert.doesNotMatch(v, /198\.51\.100|2001:db8|@/, `${s.name} ${JSON.stringify(s.labels)}`);
});

test('observe never throws, whatever the fields hold', () => {
  const m = new DaemonMetrics(sources(), { defaults: false });
  const hostile = {
    get action(): string {
      throw new Error('boom');
    },
  };
  assert.doesNotThrow(() => m.observe('connect', hostile));
  assert.doesNotThrow(() => m.observe('queued', { scan: 'not an object', reply_ms: 'soon' }));
  assert.doesNotThrow(() => m.observe('delivery', { status: { nested: true } }));
});
