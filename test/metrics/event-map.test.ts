// The pure mapping from log events to metric updates (src/metrics/event-map.ts),
// with a sink that records what it is told, and the label guard
// (src/metrics/labels.ts) that keeps every label bounded. The log lines are
// the ones the daemon writes (fields as src/smtp, src/queue, src/limits log them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codeClass, mapEvent, type Labels, type MetricSink } from '../../src/metrics/event-map.ts';
import { acceptableValue, LabelGuard, MAX_VALUES, OTHER } from '../../src/metrics/labels.ts';
import { CATALOGUE } from '../../src/metrics/catalogue.ts';

type Update = [op: 'count' | 'observe' | 'set', name: string, labels: Labels, n: number];

function updates(event: string, fields: Record<string, unknown>): Update[] {
  const got: Update[] = [];
  const sink: MetricSink = {
    count: (name, labels, by = 1) => void got.push(['count', name, labels, by]),
    observe: (name, labels, v) => void got.push(['observe', name, labels, v]),
    set: (name, labels, v) => void got.push(['set', name, labels, v]),
  };
  mapEvent(event, fields, sink);
  return got;
}

const scanOf = (virus: unknown, spam: unknown) => ({ rule: 'scan', virus, spam });

test('connections: the connect decision per listener; a refusal also counts with its rule and class', () => {
  assert.deepEqual(updates('connect', { cid: 'c1', client: '192.0.2.1', listener: 'mx', action: 'accept', rule: 'rule 3' }), [['count', 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'accepted' }, 1]]);
  assert.deepEqual(updates('connect', { client: '192.0.2.1', listener: 'mx', action: 'reject', rule: 'rule 1' }), [
    ['count', 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'refused' }, 1],
    ['count', 'mailwarden_smtp_refusals_total', { stage: 'connect', rule: 'rule 1', code_class: '5xx' }, 1],
  ]);
  assert.deepEqual(updates('connect', { listener: 'sub', action: 'tempfail', rule: 'antispam.dnsbl[0]' })[1], ['count', 'mailwarden_smtp_refusals_total', { stage: 'connect', rule: 'antispam.dnsbl[0]', code_class: '4xx' }, 1]);
  // Throttled: the first line is one refusal, a later one stands for `suppressed` more.
  assert.deepEqual(updates('connect.limit', { client: '192.0.2.9', listener: 'mx', limit: 'max_connections_per_client' }), [
    ['count', 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'limited' }, 1],
    ['count', 'mailwarden_smtp_refusals_total', { stage: 'connect', rule: 'limits.max_connections_per_client', code_class: '4xx' }, 1],
  ]);
  assert.deepEqual(updates('connect.limit', { client: '192.0.2.9', listener: 'mx', limit: 'max_connections', suppressed: 41, interval_s: 60 })[0], ['count', 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'limited' }, 41]);
  assert.deepEqual(updates('tls.handshake_failed', { client: '192.0.2.9', listener: 'smtps', reason: 'x', suppressed: 3 }), [['count', 'mailwarden_smtp_tls_handshake_failures_total', { listener: 'smtps' }, 3]]);
});

test('MAIL, RCPT and DATA: refusals by stage, rule and class; accepted recipients by kind and rule, a repeat not again', () => {
  assert.deepEqual(updates('mail', { client: '192.0.2.1', sender: 'a@b', action: 'reject', code: 553, rule: 'relaying.sender_login' }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'mail', rule: 'relaying.sender_login', code_class: '5xx' }, 1]]);
  assert.deepEqual(updates('rcpt', { client: '192.0.2.1', recipient: 'x@y', action: 'reject', code: 554, kind: null, rule: 'rule 4' }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'rcpt', rule: 'rule 4', code_class: '5xx' }, 1]]);
  assert.deepEqual(updates('rcpt', { action: 'tempfail', code: 451, rule: 'antispam.greylisting' }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'rcpt', rule: 'antispam.greylisting', code_class: '4xx' }, 1]]);
  assert.deepEqual(updates('rcpt', { action: 'accept', code: 250, kind: 'inbound', rule: 'rule 3' }), [['count', 'mailwarden_recipients_accepted_total', { kind: 'inbound', rule: 'rule 3' }, 1]]);
  assert.deepEqual(updates('rcpt', { action: 'accept', duplicate: true, kind: 'inbound', rule: 'rule 3' }), []);
  assert.deepEqual(updates('command.refused', { command: 'MAIL', code: 530, reason: 'x' }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'command', rule: 'command', code_class: '5xx' }, 1]]);
  // The refusal that reached limits.max_errors: logged as the 421 sent (src/smtp/front-end.ts), counted as 4xx.
  assert.deepEqual(updates('rcpt', { action: 'tempfail', code: 421, text: 'Too many errors, closing connection', rule: 'limits.max_errors', refused_for: { code: 554, rule: 'rule 8' } }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'rcpt', rule: 'limits.max_errors', code_class: '4xx' }, 1]]);
  assert.deepEqual(updates('command.refused', { command: 'MAIL', code: 421, reason: 'Too many errors, closing connection', rule: 'limits.max_errors', refused_for: { code: 530 } }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'command', rule: 'limits.max_errors', code_class: '4xx' }, 1]]);
  assert.deepEqual(updates('data.refused', { problem: 'too_big', code: 552, rule: 'limits.max_message_size' }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'data', rule: 'limits.max_message_size', code_class: '5xx' }, 1]]);
  assert.deepEqual(updates('antispam.refused', { action: 'reject', code: 550, rule: 'antispam.spf.action' }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'data', rule: 'antispam.spf.action', code_class: '5xx' }, 1]]);
  assert.deepEqual(updates('data.error', { error: 'disk full' }), [['count', 'mailwarden_smtp_refusals_total', { stage: 'data', rule: 'internal', code_class: '4xx' }, 1]]);
  assert.deepEqual(updates('data.error', { error: 'x', committed: true }), [], 'committed: the 250 stood');
  // A mail line is written for refusals only; an accept line (none today) counts nothing.
  assert.deepEqual(updates('mail', { action: 'accept' }), []);
});

test('a message answered 250: kind, outcome, the `.`→250 time and the scan verdicts of every engine that looked', () => {
  const queued = updates('queued', {
    id: 'q1',
    client: '192.0.2.1',
    relayed: false,
    reply_ms: 12.5,
    scan: scanOf({ scanned: true, engine: 'clamd', ms: 7, verdict: 'clean' }, { scanned: true, engine: 'spamassassin', ms: 250, verdict: 'scored', score: 6, spam: true }),
  });
  assert.deepEqual(queued, [
    ['count', 'mailwarden_messages_accepted_total', { kind: 'inbound', outcome: 'queued' }, 1],
    ['observe', 'mailwarden_smtp_data_reply_seconds', { kind: 'inbound' }, 0.0125],
    ['count', 'mailwarden_scan_verdicts_total', { engine: 'clamd', verdict: 'clean' }, 1],
    ['observe', 'mailwarden_scan_duration_seconds', { engine: 'clamd' }, 0.007],
    ['set', 'mailwarden_scan_engine_up', { engine: 'clamd' }, 1],
    ['count', 'mailwarden_scan_verdicts_total', { engine: 'spamassassin', verdict: 'spam' }, 1],
    ['observe', 'mailwarden_scan_duration_seconds', { engine: 'spamassassin' }, 0.25],
    ['set', 'mailwarden_scan_engine_up', { engine: 'spamassassin' }, 1],
  ]);
  assert.deepEqual(updates('queued', { relayed: true, held: true, scan: scanOf({ scanned: false, why: 'relayed' }, { scanned: false, why: 'disabled' }) }), [['count', 'mailwarden_messages_accepted_total', { kind: 'relay', outcome: 'held' }, 1]]);
  assert.deepEqual(updates('quarantined', { relayed: false, reply_ms: 3, scan: scanOf({ scanned: false, why: 'disabled' }, { scanned: true, engine: 'rspamd', ms: 40, verdict: 'scored', spam: false }) }).map((u) => u.slice(0, 3)), [
    ['count', 'mailwarden_messages_accepted_total', { kind: 'inbound', outcome: 'quarantined' }],
    ['observe', 'mailwarden_smtp_data_reply_seconds', { kind: 'inbound' }],
    ['count', 'mailwarden_scan_verdicts_total', { engine: 'rspamd', verdict: 'ham' }],
    ['observe', 'mailwarden_scan_duration_seconds', { engine: 'rspamd' }],
    ['set', 'mailwarden_scan_engine_up', { engine: 'rspamd' }],
  ]);
  assert.deepEqual(updates('scan.blackholed', { relayed: false, code: 250, rule: 'antivirus.action', scan: scanOf({ scanned: true, engine: 'clamd', ms: 5, verdict: 'infected', name: 'Eicar' }, {}) })[0], ['count', 'mailwarden_messages_accepted_total', { kind: 'inbound', outcome: 'discarded' }, 1]);
  // Refused by the scan: a refusal, and the engine's verdict; an engine that failed is down.
  assert.deepEqual(updates('scan.refused', { relayed: false, action: 'tempfail', code: 451, rule: 'antivirus.on_error', scan: scanOf({ scanned: true, engine: 'clamd', ms: 3, verdict: 'error', error: 'ECONNREFUSED' }, { scanned: false, why: 'disabled' }) }), [
    ['count', 'mailwarden_smtp_refusals_total', { stage: 'data', rule: 'antivirus.on_error', code_class: '4xx' }, 1],
    ['count', 'mailwarden_scan_verdicts_total', { engine: 'clamd', verdict: 'error' }, 1],
    ['observe', 'mailwarden_scan_duration_seconds', { engine: 'clamd' }, 0.003],
    ['set', 'mailwarden_scan_engine_up', { engine: 'clamd' }, 0],
  ]);
  // The blocklists' points without an engine ("checks") are no engine's verdict.
  assert.deepEqual(updates('queued', { relayed: false, scan: scanOf({ scanned: false, why: 'disabled' }, { scanned: true, engine: 'checks', ms: 0, verdict: 'scored', spam: true }) }).length, 1);
  // A line without reply_ms (an older writer) still counts the message.
  assert.deepEqual(updates('queued', { relayed: false }), [['count', 'mailwarden_messages_accepted_total', { kind: 'inbound', outcome: 'queued' }, 1]]);
});

test('delivery, DSNs, Apply, rate limits, claims and store errors', () => {
  assert.deepEqual(updates('delivery', { id: 'q', recipient: 'a@b', kind: 'relay', status: 'delivered', code: 250 }), [['count', 'mailwarden_delivery_attempts_total', { outcome: 'delivered', destination: 'relay' }, 1]]);
  assert.deepEqual(updates('delivery', { id: 'q', recipient: 'a@b', kind: 'inbound', status: 'deferred' }), [['count', 'mailwarden_delivery_attempts_total', { outcome: 'deferred', destination: 'inbound' }, 1]]);
  assert.deepEqual(updates('delivery', { status: 'failed' }), [['count', 'mailwarden_delivery_attempts_total', { outcome: 'failed', destination: 'unknown' }, 1]]);
  // An administrator's bounce (queue bounce) attempted nothing: not a failed attempt, a removal.
  const bounced = { id: 'q', recipient: 'a@b', kind: 'relay', status: 'failed', dsn: '5.0.0', response: 'bounced by the administrator', by: 'administrator', attempt: 0 };
  assert.deepEqual(updates('delivery', bounced), [['count', 'mailwarden_delivery_removed_total', { outcome: 'bounced', destination: 'relay' }, 1]]);
  assert.deepEqual(updates('dsn.queued', { id: 'd', of: 'q', type: 'failure', to: 'a@b' }), [['count', 'mailwarden_dsns_total', { type: 'failure', outcome: 'queued' }, 1]]);
  assert.deepEqual(updates('dsn.dropped', { id: 'q', type: 'delay', reason: 'the sender is <>' }), [['count', 'mailwarden_dsns_total', { type: 'delay', outcome: 'dropped' }, 1]]);
  assert.deepEqual(updates('revision.applied', { revision: 7 }), [['count', 'mailwarden_config_applies_total', {}, 1]]);
  assert.deepEqual(updates('rate.limited', { limit: 0, name: 'per-user', who: 'user', value: 'alice', action: 'defer', client: '192.0.2.1' }), [['count', 'mailwarden_rate_limit_trips_total', { limit: 'per-user', action: 'defer' }, 1]]);
  assert.deepEqual(updates('queue.claim_lost', { id: 'q' }), [['count', 'mailwarden_queue_claims_lost_total', {}, 1]]);
  assert.deepEqual(updates('queue.error', { error: 'x' }), [['count', 'mailwarden_store_errors_total', { store: 'queue' }, 1]]);
  assert.deepEqual(updates('spool.corrupt', { id: 'q' }), [['count', 'mailwarden_store_errors_total', { store: 'queue' }, 1]]);
  assert.deepEqual(updates('store.unreachable', { store: 'postgresql' }), [['count', 'mailwarden_store_errors_total', { store: 'postgresql' }, 1]]);
  assert.deepEqual(updates('rate.store_error', { error: 'x' }), [['count', 'mailwarden_store_errors_total', { store: 'rate' }, 1]]);
  assert.deepEqual(updates('tracking.store_error', { error: 'x' }), [['count', 'mailwarden_store_errors_total', { store: 'tracking' }, 1]]);
  // Message tracking's own lines (src/tracking): a store that failed, and the rows it cost.
  assert.deepEqual(updates('tracking.error', { error: 'no such table: track_entry', rows: 7 }), [['count', 'mailwarden_store_errors_total', { store: 'tracking' }, 1]]);
  assert.deepEqual(updates('tracking.error', { error: 'cannot open the tracking store: x', note: 'running without message tracking' }), [['count', 'mailwarden_store_errors_total', { store: 'tracking' }, 1]]);
  assert.deepEqual(updates('preview.error', { error: 'the tracking store cannot be read' }), [['count', 'mailwarden_store_errors_total', { store: 'tracking' }, 1]]);
  assert.deepEqual(updates('tracking.dropped', { rows: 7, reason: 'the tracking store failed: x', note: 'y' }), [['count', 'mailwarden_tracking_dropped_total', {}, 7]]);
  assert.deepEqual(updates('tracking.dropped', { rows: 0 }), []);
  assert.deepEqual(updates('store.sync_unconfirmed', { store: 'postgresql', id: 'q' }), [['count', 'mailwarden_store_errors_total', { store: 'postgresql' }, 1]]);
  assert.deepEqual(updates('auth', { action: 'reject' }), [['count', 'mailwarden_smtp_auth_total', { outcome: 'reject' }, 1]]);
  assert.deepEqual(updates('auth.blocked', { client: '192.0.2.1' }), [['count', 'mailwarden_smtp_auth_total', { outcome: 'blocked' }, 1]]);
  for (const e of ['disconnect', 'started', 'listening', 'queue.removed', 'config.warning', 'nonsense']) assert.deepEqual(updates(e, { client: '192.0.2.1' }), [], e);
});

test('every name the map uses is in the catalogue, with exactly its labels', () => {
  const byName = new Map(CATALOGUE.map((d) => [d.name as string, d]));
  const lines: [string, Record<string, unknown>][] = [
    ['connect', { listener: 'mx', action: 'reject', rule: 'rule 1' }],
    ['connect.limit', { listener: 'mx', limit: 'max_connections' }],
    ['tls.handshake_failed', { listener: 'mx' }],
    ['auth', { action: 'accept' }],
    ['rcpt', { action: 'accept', kind: 'relay', rule: 'rule 4' }],
    ['queued', { relayed: true, reply_ms: 1, scan: scanOf({ scanned: true, engine: 'clamd', ms: 1, verdict: 'clean' }, {}) }],
    ['delivery', { status: 'delivered', kind: 'relay' }],
    ['dsn.queued', { type: 'failure' }],
    ['revision.applied', {}],
    ['rate.limited', { name: 'x', action: 'hold' }],
    ['queue.claim_lost', {}],
    ['queue.error', {}],
    ['delivery', { status: 'failed', kind: 'inbound', by: 'administrator' }],
    ['tracking.error', {}],
    ['tracking.dropped', { rows: 3 }],
  ];
  for (const [e, f] of lines) {
    for (const [, name, labels] of updates(e, f)) {
      const def = byName.get(name);
      assert.ok(def, `${name} is in the catalogue`);
      assert.deepEqual(Object.keys(labels).sort(), [...def.labels].sort(), `${name}: its labels`);
    }
  }
});

test('codeClass: 4xx, 5xx, else other', () => {
  assert.equal(codeClass(421), '4xx');
  assert.equal(codeClass(554), '5xx');
  assert.equal(codeClass(250), 'other');
  assert.equal(codeClass(undefined), 'other');
});

test('labels: addresses, long or odd values become "other"; a label takes at most MAX_VALUES values', () => {
  for (const v of ['192.0.2.1', '10.0.0.0/8', '::1', '2001:db8::1', '[2001:db8::5]', '192.0.2.1:25', 'alice@example.com', 'x'.repeat(65), 'a\nb', 'café', '<x>']) assert.equal(acceptableValue(v), false, v);
  for (const v of ['rule 4', 'antispam.dnsbl[2]', 'limits.max_connections_per_client', 'mx', 'relay', '4xx', 'rate limit per-user', 'clamd']) assert.equal(acceptableValue(v), true, v);
  const g = new LabelGuard();
  assert.equal(g.value('m', 'rule', '198.51.100.7'), OTHER);
  assert.equal(g.value('m', 'rule', undefined), 'none');
  assert.equal(g.value('m', 'rule', null), 'none');
  assert.equal(g.value('m', 'code', 451), '451');
  for (let i = 0; i < MAX_VALUES + 20; i++) g.value('m', 'listener', `l${i}`);
  assert.equal(g.value('m', 'listener', 'l5'), 'l5', 'a value seen before keeps its name');
  assert.equal(g.value('m', 'listener', 'brand-new'), OTHER, 'past the cap a new value is other');
  assert.equal(g.value('other-metric', 'listener', 'brand-new'), 'brand-new', 'the cap is per metric and label');
});
