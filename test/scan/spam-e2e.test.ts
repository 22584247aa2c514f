// Spam scanning end to end with real engines on loopback: SpamAssassin's
// spamd and rspamd (Debian's packages, configurations of the test's own, no
// network tests). GTUBE is refused at reject_score, quarantined or tagged
// (headers and subject marker) per spam_action; a clean message passes with
// the score headers and without the sender's forged ones; the engine
// stopped → 451 and nothing queued; relayed mail reaches the engine only
// with scan_relayed on. Assertions are on what the engine logged it
// received, not only on our log.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { relayDoc, startRelay, type Relay } from '../smtp/harness.ts';
import { engineAvailable, GTUBE, startRspamd, startSpamd, type RunningRspamd, type RunningSpamd } from './engines.ts';
import { headerOf, message, messageLog, quarantined, queued, sendMessage, stored } from './scan-helpers.ts';

const OUTSIDE = '127.0.0.2';
const spamdAvail = engineAvailable('spamd');
const rspamdAvail = engineAvailable('rspamd');
const skipSpamd = spamdAvail.ok ? false : spamdAvail.reason;
const skipRspamd = rspamdAvail.ok ? false : rspamdAvail.reason;
let spamd: RunningSpamd;
let rspamd: RunningRspamd;

before(async () => {
  await Promise.all([!skipSpamd ? startSpamd().then((e) => (spamd = e)) : null, !skipRspamd ? startRspamd().then((e) => (rspamd = e)) : null]);
});
after(async () => {
  await Promise.all([spamd?.stop(), rspamd?.stop()]);
});

async function relayWith(t: Parameters<typeof startRelay>[0], antispam: Record<string, unknown>, relaying?: Record<string, unknown>): Promise<Relay> {
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    antispam: { enabled: true, timeout: '20s', ...antispam },
    ...(relaying ? { relaying } : {}),
  });
  return startRelay(t, doc, ports);
}

const spamdSettings = () => ({ engine: 'spamassassin', spamd: spamd.address });
const gtube = () => message(`Buy now.\r\n${GTUBE}\r\n`, { Subject: 'Cheap offer' });

test('spamd: GTUBE at reject_score is refused with 554 5.7.1 and nothing is queued', { skip: skipSpamd }, async (t) => {
  const relay = await relayWith(t, { ...spamdSettings(), reject_score: 15 });
  const before = spamd.checks().length;
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'gtube@outside.example', message: gtube() });
  assert.match(r.reply, /^554 5\.7\.1 Message refused as spam/);
  const checks = spamd.checks().slice(before);
  assert.equal(checks.length, 1);
  assert.equal(checks[0]!.spam, true);
  assert.ok(checks[0]!.score >= 1000);
  assert.deepEqual(queued(relay), []);
  const log = await messageLog(relay, (l) => l.sender === 'gtube@outside.example');
  assert.equal(log.rule, 'antispam.reject_score');
  assert.ok(((log.scan as { spam: { symbols: string[] } }).spam.symbols).includes('GTUBE'));
});

test('spamd: GTUBE quarantined with spam_action quarantine (no reject_score)', { skip: skipSpamd }, async (t) => {
  const relay = await relayWith(t, { ...spamdSettings(), reject_score: null, spam_action: 'quarantine' });
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'gq@outside.example', message: gtube() });
  assert.match(r.reply, /^250 /);
  assert.deepEqual(quarantined(relay), [r.id]);
  assert.deepEqual(queued(relay), []);
  const head = headerOf(stored(relay, r.id!, 'quarantine'));
  assert.match(head, /^X-Spam-Status: Yes, score=1\d\d\d\.\d required=5\.0 engine=spamassassin/m);
  const log = await messageLog(relay, (l) => l.sender === 'gq@outside.example');
  assert.equal(log.event, 'quarantined');
  assert.equal(log.rule, 'antispam.spam_action');
});

test('spamd: GTUBE tagged with spam_action tag: flag, score, status and subject marker; queued for delivery', { skip: skipSpamd }, async (t) => {
  const relay = await relayWith(t, { ...spamdSettings(), reject_score: null, spam_action: 'tag', subject_tag: '[SPAM]' });
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, message: gtube() });
  assert.match(r.reply, /^250 /);
  const head = headerOf(stored(relay, r.id!));
  assert.match(head, /^X-Spam-Status: Yes, score=\d+\.\d required=5\.0 engine=spamassassin\r\n\ttests=[^\r]*GTUBE/);
  assert.match(head, /\r\nX-Spam-Score: \d+\.\d\r\n/);
  assert.match(head, /\r\nX-Spam-Flag: YES\r\n/);
  assert.match(head, /\r\nSubject: \[SPAM\] Cheap offer\r\n/);
  assert.equal((head.match(/^Subject:/gm) ?? []).length, 1);
});

test('spamd: a clean message passes with the score headers, the sender\'s forged ones removed', { skip: skipSpamd }, async (t) => {
  const relay = await relayWith(t, spamdSettings());
  const before = spamd.checks().length;
  const r = await sendMessage(relay.ports.mx, {
    client: OUTSIDE,
    message: message('Lunch on Thursday?\r\nSee you there.', { 'X-Spam-Status': 'No, score=-100 (forged)', 'X-Spam-Flag': 'NO' }),
  });
  assert.match(r.reply, /^250 /);
  const checks = spamd.checks().slice(before);
  assert.equal(checks.length, 1);
  assert.equal(checks[0]!.spam, false);
  const head = headerOf(stored(relay, r.id!));
  assert.match(head, /^X-Spam-Status: No, score=-?\d+\.\d required=5\.0 engine=spamassassin/);
  assert.match(head, /\r\nX-Spam-Score: -?\d+\.\d\r\n/);
  assert.doesNotMatch(head, /forged|X-Spam-Flag/);
  assert.match(head, /\r\nSubject: test\r\n/);
  // What spamd scored is what we recorded.
  const score = Number(/X-Spam-Score: (-?[\d.]+)/.exec(head)?.[1]);
  assert.equal(score, Math.round(checks[0]!.score * 10) / 10);
});

test('spamd: relayed mail reaches spamd only with scan_relayed on', { skip: skipSpamd }, async (t) => {
  for (const scanRelayed of [false, true]) {
    const relay = await relayWith(t, spamdSettings(), { allowed_hosts: ['localhost'], scan_relayed: scanRelayed });
    const before = spamd.checks().length;
    const r = await sendMessage(relay.ports.mx, { client: '127.0.0.1', to: ['someone@elsewhere.example'], message: gtube() });
    // GTUBE scores past reject_score: refused when scanned, accepted when not.
    assert.match(r.reply, scanRelayed ? /^554 5\.7\.1 / : /^250 /, `scan_relayed ${scanRelayed}`);
    const scanned = spamd.checks().length - before;
    assert.equal(scanned, scanRelayed ? 1 : 0, `scan_relayed ${scanRelayed}`);
  }
});

test('spamd stopped: 451 4.7.0 and nothing queued', { skip: skipSpamd }, async (t) => {
  const own = await startSpamd();
  const relay = await relayWith(t, { engine: 'spamassassin', spamd: own.address, timeout: '5s' });
  assert.match((await sendMessage(relay.ports.mx, { client: OUTSIDE, message: message('first') })).reply, /^250 /);
  await own.stop();
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'spamd-down@outside.example', message: message('second') });
  assert.match(r.reply, /^451 4\.7\.0 /);
  assert.equal(queued(relay).length, 1);
  assert.equal((await messageLog(relay, (l) => l.sender === 'spamd-down@outside.example')).rule, 'antispam.on_error');
});

test('rspamd: GTUBE refused at reject_score; a clean message passes with headers; rspamd got our queue id and the client address', { skip: skipRspamd }, async (t) => {
  const relay = await relayWith(t, { engine: 'rspamd', rspamd: rspamd.url, reject_score: 15 });
  const before = rspamd.checks().length;
  const bad = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'r-gtube@outside.example', message: gtube() });
  assert.match(bad.reply, /^554 5\.7\.1 /);
  const ok = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'r-clean@outside.example', message: message('Minutes of the meeting attached.') });
  assert.match(ok.reply, /^250 /);
  const checks = rspamd.checks().slice(before);
  assert.equal(checks.length, 2);
  assert.equal(checks[0]!.action, 'reject');
  const refusedLog = await messageLog(relay, (l) => l.sender === 'r-gtube@outside.example');
  assert.equal(checks[0]!.queueId, refusedLog.id);
  assert.equal(checks[1]!.queueId, ok.id);
  assert.equal(checks[1]!.ip, OUTSIDE);
  const head = headerOf(stored(relay, ok.id!));
  assert.match(head, /^X-Spam-Status: No, score=-?\d+\.\d required=5\.0 engine=rspamd/);
  assert.deepEqual(queued(relay), [ok.id]);
});

test('rspamd: GTUBE quarantined when reject_score is off', { skip: skipRspamd }, async (t) => {
  const relay = await relayWith(t, { engine: 'rspamd', rspamd: rspamd.url, reject_score: null, spam_action: 'quarantine' });
  const r = await sendMessage(relay.ports.mx, { client: OUTSIDE, message: gtube() });
  assert.match(r.reply, /^250 /);
  assert.deepEqual(quarantined(relay), [r.id]);
});
