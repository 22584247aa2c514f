// Metrics end to end: the real daemon with its metrics listener and its admin
// listener on port 0, a real clamd (Debian's, on loopback, EICAR signature of
// the test's own) and a sink as next hop. Real mail (swaks and raw SMTP):
// relayed, inbound, refused at RCPT, infected, bounced (a DSN), deferred, and
// held by a rate limit. Both endpoints are scraped before and after, parsed
// strictly, and the counters, histograms and gauges must have moved by
// exactly what was sent; no label carries a client address. Then Applies
// through the admin API: the revision, the Apply count, the open-relay gauge,
// and the metrics listener moving (and going) without a restart.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { RawClient, relayDoc, runCli, startRelay, swaks, swaksMissing, type Relay } from '../smtp/harness.ts';
import { ApiClient, onStderr } from '../api/client.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { EICAR, engineAvailable, startClamd, type RunningClamd } from '../scan/engines.ts';
import { message, sendMessage } from '../scan/scan-helpers.ts';
import { parseExposition, series, value, type Family } from './exposition.ts';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const avail = engineAvailable('clamd');
const skip = avail.ok ? swaksMissing() : avail.reason;
const OUTSIDE = '127.0.0.2';
let clamd: RunningClamd;
let sink: Sink;

before(async () => {
  if (skip) return;
  clamd = await startClamd();
  sink = await startSink({
    behaviour: {
      rcpt: (to) => (to.startsWith('bounce@') ? { code: 550, text: '5.1.1 No such user' } : to.startsWith('later@') ? { code: 451, text: '4.3.0 Try again later' } : undefined),
    },
  });
});
after(async () => {
  await Promise.all([clamd?.stop(), sink?.close()]);
});

/** GET over plain HTTP, a fresh connection each time. */
function httpGet(url: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((done, fail) => {
    const req = request(url, { agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('error', fail);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const r = await httpGet(url);
  assert.equal(r.status, 200, r.body);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return parseExposition(r.body);
}

/** Scrapes until `ok` holds (state that settles a moment after a reply: a closed session), at most 10 s. */
async function scrapeUntil(url: string, ok: (f: Map<string, Family>) => boolean): Promise<Map<string, Family>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const f = await scrape(url);
    if (ok(f) || Date.now() > deadline) return f;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** No label of any sample names a client (127.0.0.x here) or a mail address. */
function assertNoAddressLabels(f: Map<string, Family>): void {
  for (const fam of f.values()) for (const s of fam.samples) for (const v of Object.values(s.labels)) assert.doesNotMatch(v, /127\.0\.0\.|@/, `${s.name}${JSON.stringify(s.labels)}`);
}

async function start(t: Parameters<typeof startRelay>[0]): Promise<{ relay: Relay; metricsUrl: string; api: ApiClient; token: string; revision: number }> {
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.1:${sink.port}`] } }],
    delivery: { enabled: true, smarthost: { host: '127.0.0.1', port: sink.port } },
    antivirus: { enabled: true, clamd: clamd.address, timeout: '20s' },
    admin: { enabled: true, address: '127.0.0.1', port: 0 },
    metrics: { address: '127.0.0.1', port: 0 },
    limits: { rate: [{ name: 'hold-test', who: 'sender_domain', match: 'hold.example', messages: 1, per: '1h', action: 'hold' }] },
  });
  const relay = await startRelay(t, doc, ports);
  const started = await relay.waitLog((l) => l.event === 'started');
  const metricsUrl = String(started.metrics);
  const listening = await relay.waitLog((l) => l.event === 'listening' && l.listener === 'metrics');
  assert.equal(metricsUrl, `http://127.0.0.1:${String(listening.port)}/metrics`);
  await relay.waitLog((l) => l.event === 'admin.created');
  await onStderr(relay, () => (/with the password/.test(relay.stderr()) ? true : null));
  const made = await runCli(['admin', 'token', 'create', 'prometheus', '--owner', 'admin', '--json', '--data', relay.dataDir]);
  assert.equal(made.status, 0, made.stderr);
  const token = (JSON.parse(made.stdout) as { token: string }).token;
  const api = new ApiClient(relay.adminPort ?? 0, readFileSync(join(relay.dataDir, 'tls', 'cert.pem')));
  return { relay, metricsUrl, api, token, revision: Number(started.revision) };
}

test('counters, histograms and gauges move by exactly the traffic sent, on both endpoints; no label carries an address', { skip, timeout: 120_000 }, async (t) => {
  const { relay, metricsUrl, api, token } = await start(t);
  const port = relay.ports.mx;

  // The admin listener's /metrics: a token (or a session) is required.
  const anon = await api.call('GET', '/metrics');
  assert.equal(anon.status, 401);
  assert.equal((await api.call('GET', '/metrics', { as: { token: 'not-a-token' } })).status, 401);
  const viaAdmin = async () => {
    const a = await api.call('GET', '/metrics', { as: { token } });
    assert.equal(a.status, 200, a.text);
    assert.match(String(a.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parseExposition(a.text);
  };

  const b = await scrape(metricsUrl);
  const bAdmin = await viaAdmin();
  const delta = (f: Map<string, Family>, name: string, labels: Record<string, string> = {}) => value(f, name, labels) - value(b, name, labels);

  // a. relayed (swaks, from the relay host 127.0.0.1): queued, scanned, delivered through the smarthost.
  const a = await swaks(['--server', `127.0.0.1:${port}`, '--from', 'a@relay.example', '--to', 'someone@elsewhere.test', '--h-Subject', 'relayed']);
  assert.equal(a.status, 0, a.out);
  // b. inbound from outside, delivered to the domain's route.
  const inbound = await sendMessage(port, { client: OUTSIDE, to: ['user@example.com'], message: message('hello\r\n') });
  assert.match(inbound.reply, /^250 /);
  // c. outside → elsewhere: relaying denied at RCPT.
  const c = await RawClient.connect(port, OUTSIDE);
  assert.match((await c.reply()) ?? '', /^220 /);
  await c.cmd('EHLO client.test.example');
  await c.cmd('MAIL FROM:<x@outside.example>');
  assert.match((await c.cmd('RCPT TO:<victim@elsewhere.test>')) ?? '', /^554 5\.7\.1/);
  await c.cmd('QUIT');
  c.end();
  const denied = await relay.waitLog((l) => l.event === 'rcpt' && l.recipient === 'victim@elsewhere.test');
  // d. EICAR: refused at the end of DATA by the malware scan.
  const infected = await sendMessage(port, { client: OUTSIDE, to: ['user@example.com'], from: 'eicar@outside.example', message: message(`see:\r\n${EICAR}\r\n`) });
  assert.match(infected.reply, /^554 5\.7\.0/);
  // e. bounced by the next hop (a failure DSN to the sender, relayed through the smarthost); f. deferred.
  const bounced = await sendMessage(port, { client: OUTSIDE, to: ['bounce@example.com'], message: message('bounce me\r\n') });
  const deferred = await sendMessage(port, { client: OUTSIDE, to: ['later@example.com'], message: message('later\r\n') });
  // g. two from hold.example: the second trips the rate limit and is held.
  const g1 = await sendMessage(port, { from: 'one@hold.example', to: ['z@elsewhere.test'], message: message('first\r\n') });
  const g2 = await sendMessage(port, { from: 'two@hold.example', to: ['z@elsewhere.test'], message: message('second\r\n') });
  for (const r of [bounced, deferred, g1, g2]) assert.match(r.reply, /^250 /);

  const deliveryOf = (id: string | null) => relay.waitLog((l) => l.event === 'delivery' && l.id === id);
  const relayedId = /queued as ([0-9a-z]{16})/.exec(a.out)?.[1] ?? null;
  assert.equal((await deliveryOf(relayedId)).status, 'delivered');
  assert.equal((await deliveryOf(inbound.id)).status, 'delivered');
  assert.equal((await deliveryOf(bounced.id)).status, 'failed');
  assert.equal((await deliveryOf(deferred.id)).status, 'deferred');
  assert.equal((await deliveryOf(g1.id)).status, 'delivered');
  const dsn = await relay.waitLog((l) => l.event === 'dsn.queued' && l.of === bounced.id);
  assert.equal((await deliveryOf(String(dsn.id))).status, 'delivered');
  await relay.waitLog((l) => l.event === 'rate.limited');

  // Sessions settle a moment after QUIT; then every count is final. The queue gauges come from a census
  // reused for a second (metrics.ts): on a fast machine all the traffic above fits in that second, so the
  // scrape waits for one taken after it (returned as is at the deadline, for the assertions to report).
  const f = await scrapeUntil(metricsUrl, (x) => value(x, 'mailwarden_smtp_sessions_open', { listener: 'mx' }) === 0 && value(x, 'mailwarden_queue_messages', { state: 'queued' }) === 0 && value(x, 'mailwarden_queue_messages', { state: 'held' }) > 0);
  assert.equal(delta(f, 'mailwarden_smtp_connections_total', { listener: 'mx', outcome: 'accepted' }), 8, 'a, b, c, d, e, f and two of g');
  assert.equal(delta(f, 'mailwarden_messages_accepted_total', { kind: 'relay', outcome: 'queued' }), 2);
  assert.equal(delta(f, 'mailwarden_messages_accepted_total', { kind: 'relay', outcome: 'held' }), 1);
  assert.equal(delta(f, 'mailwarden_messages_accepted_total', { kind: 'inbound', outcome: 'queued' }), 3);
  assert.equal(delta(f, 'mailwarden_messages_accepted_total'), 6);
  assert.equal(delta(f, 'mailwarden_recipients_accepted_total', { kind: 'relay' }), 3);
  assert.equal(delta(f, 'mailwarden_recipients_accepted_total', { kind: 'inbound' }), 4, 'b, d (refused later, at DATA), e, f');
  assert.equal(delta(f, 'mailwarden_smtp_refusals_total', { stage: 'rcpt', rule: String(denied.rule), code_class: '5xx' }), 1);
  assert.equal(delta(f, 'mailwarden_smtp_refusals_total', { stage: 'data', rule: 'antivirus.action', code_class: '5xx' }), 1);
  assert.equal(delta(f, 'mailwarden_smtp_refusals_total'), 2);
  // The `.`→250 histogram: one observation per 250 at the end of DATA, none for the refused EICAR.
  assert.equal(delta(f, 'mailwarden_smtp_data_reply_seconds_count', { kind: 'relay' }), 3);
  assert.equal(delta(f, 'mailwarden_smtp_data_reply_seconds_count', { kind: 'inbound' }), 3);
  assert.ok(delta(f, 'mailwarden_smtp_data_reply_seconds_sum') > 0);
  assert.equal(delta(f, 'mailwarden_smtp_data_reply_seconds_bucket', { kind: 'inbound', le: '+Inf' }), 3);
  // clamd looked at every message that reached the end of DATA (relayed ones too: scan_relayed).
  assert.equal(delta(f, 'mailwarden_scan_verdicts_total', { engine: 'clamd', verdict: 'clean' }), 6);
  assert.equal(delta(f, 'mailwarden_scan_verdicts_total', { engine: 'clamd', verdict: 'infected' }), 1);
  assert.equal(delta(f, 'mailwarden_scan_duration_seconds_count', { engine: 'clamd' }), 7);
  assert.equal(value(f, 'mailwarden_scan_engine_up', { engine: 'clamd' }), 1);
  assert.equal(delta(f, 'mailwarden_delivery_attempts_total', { outcome: 'delivered', destination: 'relay' }), 3, 'a, g1 and the DSN');
  assert.equal(delta(f, 'mailwarden_delivery_attempts_total', { outcome: 'delivered', destination: 'inbound' }), 1);
  assert.equal(delta(f, 'mailwarden_delivery_attempts_total', { outcome: 'failed', destination: 'inbound' }), 1);
  assert.equal(delta(f, 'mailwarden_delivery_attempts_total', { outcome: 'deferred', destination: 'inbound' }), 1);
  assert.equal(delta(f, 'mailwarden_dsns_total', { type: 'failure', outcome: 'queued' }), 1);
  assert.equal(delta(f, 'mailwarden_rate_limit_trips_total', { limit: 'hold-test', action: 'hold' }), 1);
  assert.equal(delta(f, 'mailwarden_store_errors_total'), 0);
  // The queue as the store has it: the deferred one and the held one wait; nothing else.
  assert.equal(value(f, 'mailwarden_queue_messages', { state: 'deferred' }), 1);
  assert.equal(value(f, 'mailwarden_queue_messages', { state: 'held' }), 1);
  assert.equal(value(f, 'mailwarden_queue_messages', { state: 'queued' }), 0);
  const age = value(f, 'mailwarden_queue_oldest_message_age_seconds', { state: 'deferred' });
  assert.ok(age > 0 && age < 120, `the deferred message's age ${age}`);
  assert.ok(value(f, 'mailwarden_queue_oldest_message_age_seconds', { state: 'held' }) > 0);
  assert.deepEqual(series(f, 'mailwarden_queue_oldest_message_age_seconds', { state: 'queued' }), []);
  assert.equal(value(f, 'mailwarden_quarantine_messages'), 0);
  assert.equal(value(f, 'mailwarden_store_reachable', { store: 'embedded' }), 1);
  assert.equal(value(f, 'mailwarden_config_open_relay'), 0);
  assertNoAddressLabels(f);

  // The admin endpoint reads the same registry.
  const fAdmin = await viaAdmin();
  for (const name of ['mailwarden_messages_accepted_total', 'mailwarden_scan_verdicts_total', 'mailwarden_delivery_attempts_total']) {
    assert.equal(value(fAdmin, name) - value(bAdmin, name), delta(f, name), name);
  }
  assertNoAddressLabels(fAdmin);

  // An open session shows in the gauge of its listener.
  const open = await RawClient.connect(port, OUTSIDE);
  assert.match((await open.reply()) ?? '', /^220 /);
  const during = await scrape(metricsUrl);
  assert.equal(value(during, 'mailwarden_smtp_sessions_open', { listener: 'mx' }), 1);
  assert.equal(value(during, 'mailwarden_smtp_sessions_open', { listener: 'submission' }), 0);
  open.end();
});

test('the RCPT that reaches the error limit counts as the 421 sent; a tracking store that fails counts store errors and the rows lost', { skip, timeout: 120_000 }, async (t) => {
  const { relay, metricsUrl } = await start(t);
  const port = relay.ports.mx;
  const b = await scrape(metricsUrl);
  const delta = (f: Map<string, Family>, name: string, labels: Record<string, string> = {}) => value(f, name, labels) - value(b, name, labels);

  // Ten RCPTs to elsewhere from a client without a relay right: nine 554s, then the error limit's 421 (limits.max_errors: 10).
  const c = await RawClient.connect(port, OUTSIDE);
  assert.match((await c.reply()) ?? '', /^220 /);
  await c.cmd('EHLO client.test.example');
  assert.match((await c.cmd('MAIL FROM:<x@outside.example>')) ?? '', /^250 /);
  for (let i = 1; i <= 9; i++) assert.match((await c.cmd(`RCPT TO:<v${i}@elsewhere.test>`)) ?? '', /^554 5\.7\.1 /);
  assert.match((await c.cmd('RCPT TO:<v10@elsewhere.test>')) ?? '', /^421 4\.7\.0 Too many errors/);
  assert.ok(await c.closedByServer());
  const ninth = await relay.waitLog((l) => l.event === 'rcpt' && l.recipient === 'v9@elsewhere.test');
  const tenth = await relay.waitLog((l) => l.event === 'rcpt' && l.recipient === 'v10@elsewhere.test');
  assert.deepEqual([tenth.code, tenth.action, tenth.rule], [421, 'tempfail', 'limits.max_errors']);
  assert.deepEqual((tenth.refused_for as { rule?: unknown }).rule, ninth.rule);
  const f = await scrapeUntil(metricsUrl, (x) => value(x, 'mailwarden_smtp_sessions_open', { listener: 'mx' }) === 0);
  assert.equal(delta(f, 'mailwarden_smtp_refusals_total', { stage: 'rcpt', rule: String(ninth.rule), code_class: '5xx' }), 9);
  assert.equal(delta(f, 'mailwarden_smtp_refusals_total', { stage: 'rcpt', rule: 'limits.max_errors', code_class: '4xx' }), 1);
  assert.equal(delta(f, 'mailwarden_smtp_refusals_total'), 10);
  assert.equal(delta(f, 'mailwarden_store_errors_total', { store: 'tracking' }), 0);

  // The tracking tables dropped under the running daemon: its next write fails. Mail is not affected.
  const db = join(relay.dataDir, 'tracking.db');
  const dropped = spawnSync('python3', ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); c.execute("DROP TABLE track_entry"); c.execute("DROP TABLE track_event"); c.commit()', db], { encoding: 'utf8' });
  assert.equal(dropped.status, 0, dropped.stderr);
  const sent = await sendMessage(port, { client: OUTSIDE, to: ['user@example.com'], message: message('tracked nowhere\r\n') });
  assert.match(sent.reply, /^250 /);
  const error = await relay.waitLog((l) => l.event === 'tracking.error');
  assert.match(String(error.error), /no such table/);
  const lost = await relay.waitLog((l) => l.event === 'tracking.dropped');
  const g = await scrapeUntil(metricsUrl, (x) => value(x, 'mailwarden_tracking_dropped_total') >= Number(lost.rows));
  assert.ok(delta(g, 'mailwarden_store_errors_total', { store: 'tracking' }) >= 1);
  assert.ok(Number(lost.rows) >= 1);
  assert.ok(delta(g, 'mailwarden_tracking_dropped_total') >= Number(lost.rows), `the tracking.dropped line's ${String(lost.rows)} rows`);
});

test('Applies: the revision and the Apply count follow; the open-relay gauge; the metrics listener moves and goes without a restart', { skip, timeout: 120_000 }, async (t) => {
  const { relay, metricsUrl, api, token, revision } = await start(t);
  const b = await scrape(metricsUrl);
  assert.equal(value(b, 'mailwarden_config_revision'), revision);
  const applies0 = value(b, 'mailwarden_config_applies_total');

  // The open relay, acknowledged: Any may relay.
  const relaying = (await api.call('GET', '/api/settings/relaying', { as: { token } })).json.value as Record<string, unknown>;
  const open = await api.call('PUT', '/api/settings/relaying', { as: { token }, body: { value: { ...relaying, allowed_hosts: ['Any'], open_relay_acknowledged: true } } });
  assert.equal(open.status, 200, open.text);
  const f1 = await scrape(metricsUrl);
  assert.equal(value(f1, 'mailwarden_config_revision'), revision + 1);
  assert.equal(value(f1, 'mailwarden_config_applies_total') - applies0, 1);
  assert.equal(value(f1, 'mailwarden_config_open_relay'), 1);

  // The metrics listener moves to 127.0.0.2 (port 0 again: the new port is in its listening line).
  const moved = await api.call('PUT', '/api/settings/metrics', { as: { token }, body: { value: { address: '127.0.0.2', port: 0 } } });
  assert.equal(moved.status, 200, moved.text);
  const listening = await relay.waitLog((l) => l.event === 'listening' && l.listener === 'metrics' && l.address === '127.0.0.2');
  const newUrl = `http://127.0.0.2:${String(listening.port)}/metrics`;
  const f2 = await scrape(newUrl);
  assert.equal(value(f2, 'mailwarden_config_revision'), revision + 2);
  assert.equal(value(f2, 'mailwarden_config_applies_total') - applies0, 2);
  await assert.rejects(httpGet(metricsUrl), /ECONNREFUSED/, 'the old address no longer answers');

  // metrics: null closes it; the admin endpoint stays.
  const off = await api.call('PUT', '/api/settings/metrics', { as: { token }, body: { value: null } });
  assert.equal(off.status, 200, off.text);
  await relay.waitLog((l) => l.event === 'metrics.stopped' && l.address === '127.0.0.2');
  await assert.rejects(httpGet(newUrl), /ECONNREFUSED/);
  const viaAdmin = await api.call('GET', '/metrics', { as: { token } });
  assert.equal(viaAdmin.status, 200);
  assert.equal(value(parseExposition(viaAdmin.text), 'mailwarden_config_revision'), revision + 3);
  assert.equal(relay.logs.filter((l) => l.event === 'started').length, 1, 'no restart');
});
