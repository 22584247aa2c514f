// Message tracking over a real run: the daemon (bin/mailwarden start) with
// real clients (raw SMTP, nodemailer, swaks) from several 127.x addresses,
// real next hops (sinks on 127.0.0.22/23), a real clamd for the quarantine.
// The run: a message with three recipients (delivered; deferred then
// delivered; bounced, with its DSN delivered to the sender), a recipient
// refused by rule 4 next to an accepted one on one connection, a client
// refused at connect (blacklist, rule 1), a quarantined message released by
// the administrator (CLI through the control socket) and then delivered, and
// a message with an RFC 2047 subject. Once every outcome is logged the daemon
// stops (the recorder writes what waits), and the test reads DATA/tracking.db
// with the SQLite store: each status, timeline, every search filter and the
// paging; then decisions() and top(); then a restart a month later prunes it all.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { RawClient, queuedId, relayDoc, runCli, startNode, startRelay, swaks, swaksMissing, type LogLine, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { EICAR, engineAvailable, startClamd, type RunningClamd } from '../scan/engines.ts';
import { message, sendMessage } from '../scan/scan-helpers.ts';
import { SqliteTrackingStore } from '../../src/tracking/sqlite-tracking-store.ts';
import type { TrackEntry, TrackQuery } from '../../src/tracking/tracking-store.ts';

const clamdAvail = engineAvailable('clamd');
const skip = (clamdAvail.ok ? false : clamdAvail.reason) || swaksMissing();
const SENDER = 's@sender.example';
const STRANGER = '127.0.0.2';
const BLACKLISTED = '127.0.0.6';

let clamd: RunningClamd | null = null;
const sinks: Sink[] = [];
let relay: Relay;
let store: SqliteTrackingStore;
const ids: Record<'three' | 'inbound' | 'quarantined' | 'encoded', string> = { three: '', inbound: '', quarantined: '', encoded: '' };
let startedAt = 0;
let endedAt = 0;

type T = Parameters<typeof startRelay>[0];
const suiteT: T & { cleanups: (() => void | Promise<void>)[] } = { cleanups: [], after: (fn) => void suiteT.cleanups.push(fn) };

const waitLog = (event: string, fields: Record<string, unknown>, timeoutMs = 20_000): Promise<LogLine> =>
  relay.waitLog((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v), timeoutMs);

async function expect(c: RawClient, cmd: string, code: RegExp): Promise<string> {
  const r = (await c.cmd(cmd)) ?? '(closed)';
  assert.match(r, code, cmd);
  return r;
}

before(async () => {
  if (skip) return;
  clamd = await startClamd();
  let laterTries = 0;
  const rcpt = await startSink({
    address: '127.0.0.22',
    behaviour: {
      rcpt: (to) => {
        if (to === 'bad@example.com') return { code: 550, text: '5.1.1 <bad@example.com>: no such user' };
        if (to === 'later@example.com' && ++laterTries === 1) return { code: 451, text: '4.2.0 <later@example.com>: try again later' };
        return undefined;
      },
    },
  });
  const senderSink = await startSink({ address: '127.0.0.23' });
  sinks.push(rcpt, senderSink);
  const { doc, ports } = await relayDoc({
    domains: [
      { name: 'example.com', route: { hosts: [`127.0.0.22:${rcpt.port}`] } },
      { name: 'sender.example', route: { hosts: [`127.0.0.23:${senderSink.port}`] } },
    ],
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'bad', type: 'host', address: BLACKLISTED },
    ],
    relaying: { allowed_hosts: ['localhost'], blacklist: ['bad'] },
    delivery: { enabled: true },
    queue: { retry: { first: '1s', max: '2s' } },
    antivirus: { enabled: true, clamd: clamd.address, timeout: '20s', action: 'quarantine' },
    tracking: { subject: true },
  });
  startedAt = Date.now();
  relay = await startRelay(suiteT, doc, ports);

  // 1. Three recipients from a relay host: delivered; deferred, then delivered; bounced, with a DSN to the sender.
  {
    const c = await RawClient.connect(ports.mx);
    assert.match((await c.reply()) ?? '', /^220 /);
    await expect(c, 'EHLO client.example', /^250[ -]/);
    await expect(c, `MAIL FROM:<${SENDER}>`, /^250 /);
    for (const r of ['ok', 'later', 'bad']) await expect(c, `RCPT TO:<${r}@example.com>`, /^250 /);
    await expect(c, 'DATA', /^354 /);
    ids.three = queuedId((await c.cmd(`From: <${SENDER}>\r\nTo: <ok@example.com>\r\nSubject: Quarterly numbers Q1\r\nMessage-ID: <q1.three@client.example>\r\n\r\nhello\r\n.`)) ?? '');
    await c.cmd('QUIT');
    c.end();
  }
  // 2. From a stranger: a recipient elsewhere refused (rule 4), one of ours accepted, on one connection.
  {
    const c = await RawClient.connect(ports.mx, STRANGER);
    assert.match((await c.reply()) ?? '', /^220 /);
    await expect(c, 'EHLO stranger.example', /^250[ -]/);
    await expect(c, 'MAIL FROM:<mallory@stranger.example>', /^250 /);
    await expect(c, 'RCPT TO:<victim@elsewhere.example>', /^554 /);
    await expect(c, 'RCPT TO:<ok@example.com>', /^250 /);
    await expect(c, 'DATA', /^354 /);
    ids.inbound = queuedId((await c.cmd('From: <mallory@stranger.example>\r\nSubject: hello there\r\nMessage-ID: <inbound.2@stranger.example>\r\n\r\nhi\r\n.')) ?? '');
    await c.cmd('QUIT');
    c.end();
  }
  // 3. A blacklisted client, refused at connect (swaks).
  const sw = await swaks(['--server', '127.0.0.1', '--port', String(ports.mx), '--local-interface', BLACKLISTED, '--from', 'spam@bad.example', '--to', 'ok@example.com', '--timeout', '10']);
  assert.notEqual(sw.status, 0, sw.out);
  assert.match(sw.out, /554/);
  // 4. A virus from the stranger: quarantined; the administrator releases it (CLI, through the control socket); delivered.
  const q = await sendMessage(ports.mx, { client: STRANGER, from: 'infected@stranger.example', to: ['ok@example.com'], message: message(`see:\r\n${EICAR}\r\n`, { Subject: 'invoice attached', 'Message-ID': '<virus.4@stranger.example>' }) });
  assert.match(q.reply, /^250 /);
  ids.quarantined = q.id!;
  await waitLog('quarantined', { id: ids.quarantined });
  const rel = await runCli(['quarantine', 'release', ids.quarantined, '--data', relay.dataDir]);
  assert.equal(rel.status, 0, rel.stderr);
  // 5. nodemailer with a non-ASCII subject (RFC 2047 encoded words on the wire).
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: ports.mx, secure: false, ignoreTLS: true, name: 'nm.example', connectionTimeout: 10_000, socketTimeout: 10_000 });
  const info = await transport.sendMail({ from: 'Zoë <zoe@sender.example>', to: 'ok@example.com', subject: 'Résumé de l’été', text: 'bonjour', messageId: '<encoded.5@sender.example>' });
  transport.close();
  ids.encoded = queuedId(info.response);

  // Every outcome logged, then a graceful stop: the recorder writes what waits before the store closes.
  await waitLog('delivery', { id: ids.three, recipient: 'ok@example.com', status: 'delivered' });
  await waitLog('delivery', { id: ids.three, recipient: 'bad@example.com', status: 'failed' });
  await waitLog('delivery', { id: ids.three, recipient: 'later@example.com', status: 'delivered' });
  const dsn = await waitLog('dsn.queued', { of: ids.three });
  await waitLog('delivery', { id: dsn.id as string, status: 'delivered' });
  await waitLog('delivery', { id: ids.inbound, status: 'delivered' });
  await waitLog('delivery', { id: ids.quarantined, status: 'delivered' });
  await waitLog('delivery', { id: ids.encoded, status: 'delivered' });
  await waitLog('disconnect', { client: BLACKLISTED });
  endedAt = Date.now() + 1;
  assert.equal(await relay.stop(), 0);
  store = new SqliteTrackingStore(join(relay.dataDir, 'tracking.db'));
});

after(async () => {
  await store?.close();
  for (const fn of suiteT.cleanups.reverse()) await fn();
  await Promise.all(sinks.map((s) => s.close()));
  await clamd?.stop();
});

const find = async (q: TrackQuery): Promise<TrackEntry[]> => (await store.search({ limit: 500, ...q })).entries;
const one = async (q: TrackQuery): Promise<TrackEntry> => {
  const found = await find(q);
  assert.equal(found.length, 1, `one entry for ${JSON.stringify(q)}: ${JSON.stringify(found.map((e) => e.key))}`);
  return found[0]!;
};

describe('message tracking over a recorded run', { skip }, () => {
  test('a message with three recipients: delivered, deferred then delivered, bounced; its DSN delivered; one timeline', async () => {
    const entries = await find({ id: ids.three });
    const by = new Map(entries.map((e) => [e.recipient, e]));
    assert.deepEqual(entries.map((e) => e.key).sort(), [0, 1, 2].map((n) => `${ids.three}:${n}`));
    const ok = by.get('ok@example.com')!;
    assert.deepEqual([ok.status, ok.code, ok.attempts, ok.rule, ok.kind, ok.sender, ok.client, ok.helo, ok.listener], ['delivered', 250, 1, 'delivery', 'inbound', SENDER, '127.0.0.1', 'client.example', 'mx']);
    assert.match(ok.relay ?? '', /127\.0\.0\.22/);
    assert.equal(ok.message_id, 'q1.three@client.example');
    assert.equal(ok.subject, 'Quarterly numbers Q1', 'tracking.subject is on in this run');
    assert.deepEqual([ok.rcpt_action, ok.rcpt_rule, ok.rcpt_code], ['accept', 'rule 3', 250]);
    const later = by.get('later@example.com')!;
    assert.deepEqual([later.status, later.attempts], ['delivered', 2]);
    const bad = by.get('bad@example.com')!;
    assert.deepEqual([bad.status, bad.code, bad.attempts], ['bounced', 550, 1]);
    assert.match(bad.reply ?? '', /no such user/);

    const tl = (await store.timeline(ids.three))!;
    assert.deepEqual(tl.entries.map((e) => e.recipient), ['ok@example.com', 'later@example.com', 'bad@example.com']);
    const names = tl.events.map((e) => e.event);
    for (const e of ['connect', 'rcpt', 'queued', 'delivery', 'dsn.queued', 'queue.removed', 'disconnect']) assert.ok(names.includes(e), `${e} in ${names.join(',')}`);
    assert.equal(names.filter((e) => e === 'rcpt').length, 3);
    assert.deepEqual(tl.events.filter((e) => e.event === 'delivery' && e.fields.recipient === 'later@example.com').map((e) => e.fields.status), ['deferred', 'delivered']);
    assert.ok(names.indexOf('connect') < names.indexOf('queued') && names.indexOf('queued') < names.indexOf('dsn.queued'), 'in time order');
    assert.ok(!tl.events.some((e) => e.fields.client === STRANGER), 'no other connection\'s events');

    const dsn = await one({ from: '<>', to: SENDER });
    assert.deepEqual([dsn.status, dsn.cid, dsn.client, dsn.kind, dsn.rcpt_action], ['delivered', null, null, 'relay', null]);
    assert.deepEqual((await store.timeline(dsn.queue_id!))!.events.map((e) => e.event).filter((e) => e === 'delivery'), ['delivery']);
  });

  test('a recipient refused by rule 4 beside an accepted one; a client refused at connect (rule 1)', async () => {
    const refused = await one({ client: STRANGER, status: ['refused'] });
    assert.deepEqual(
      [refused.key, refused.sender, refused.recipient, refused.rule, refused.code, refused.reply, refused.rcpt_action, refused.queue_id, refused.helo],
      [`${refused.cid}:1:0`, 'mallory@stranger.example', 'victim@elsewhere.example', 'rule 4', 554, 'Relaying denied', 'reject', null, 'stranger.example'],
    );
    const accepted = await one({ id: ids.inbound });
    assert.equal(accepted.cid, refused.cid, 'the same connection');
    assert.deepEqual([accepted.status, accepted.kind, accepted.rcpt_rule], ['delivered', 'inbound', 'rule 3']);
    const tl = (await store.timeline(refused.key))!;
    assert.deepEqual(tl.entries.map((e) => e.key), [refused.key]);
    assert.deepEqual(tl.events.filter((e) => e.event === 'rcpt').map((e) => e.fields.recipient), ['victim@elsewhere.example', 'ok@example.com']);

    const blocked = await one({ client: BLACKLISTED });
    assert.deepEqual([blocked.status, blocked.rule, blocked.code, blocked.sender, blocked.recipient, blocked.key], ['refused', 'rule 1', 554, null, null, `${blocked.cid}:0:0`]);
    assert.deepEqual((await store.timeline(blocked.key))!.events.map((e) => e.event), ['connect', 'disconnect']);
  });

  test('quarantined, released by the administrator, delivered', async () => {
    const e = await one({ id: ids.quarantined });
    assert.deepEqual([e.status, e.sender, e.client, e.subject, e.message_id], ['delivered', 'infected@stranger.example', STRANGER, 'invoice attached', 'virus.4@stranger.example']);
    const names = (await store.timeline(ids.quarantined))!.events.map((x) => x.event);
    assert.deepEqual(names.filter((n) => ['quarantined', 'quarantine.admin', 'delivery'].includes(n)), ['quarantined', 'quarantine.admin', 'delivery']);
  });

  test('each search filter over the run, and paging', async () => {
    const all = await find({});
    assert.equal(all.length, 9, all.map((e) => `${e.key} ${e.status}`).join('\n'));
    assert.deepEqual(new Set((await find({ from: SENDER })).map((e) => e.queue_id)), new Set([ids.three]));
    assert.deepEqual((await find({ from: 'S@SENDER.example' })).length, 3, 'any case');
    assert.deepEqual(new Set((await find({ from: '@sender.example' })).map((e) => e.queue_id)), new Set([ids.three, ids.encoded]));
    assert.deepEqual((await find({ to: 'later@example.com' })).map((e) => e.key), [`${ids.three}:1`]);
    assert.equal((await find({ to: '@example.com' })).length, 6);
    assert.equal((await find({ client: STRANGER })).length, 3);
    assert.deepEqual((await find({ message_id: '<encoded.5@sender.example>' })).map((e) => e.queue_id), [ids.encoded]);
    assert.deepEqual((await find({ subject: 'été' })).map((e) => e.queue_id), [ids.encoded], 'the RFC 2047 subject is searched decoded');
    assert.equal((await one({ id: ids.encoded })).subject, 'Résumé de l’été');
    assert.deepEqual((await find({ subject: 'QUARTERLY' })).length, 3);
    assert.deepEqual((await find({ status: ['bounced'] })).map((e) => e.recipient), ['bad@example.com']);
    assert.equal((await find({ status: ['refused'] })).length, 2);
    assert.equal((await find({ status: ['delivered'] })).length, 6);
    const q1 = await one({ id: ids.quarantined });
    assert.deepEqual((await find({ since: q1.at, until: q1.at + 1 })).map((e) => e.key), [q1.key]);
    assert.equal((await find({ since: startedAt, until: endedAt })).length, 9);
    assert.equal((await find({ since: endedAt })).length, 0);

    // Pages of 2, newest first: every entry once, in the order of the whole list.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const p = await store.search({ limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...p.entries.map((e) => e.key));
      cursor = p.next;
    } while (cursor);
    assert.deepEqual(seen, all.map((e) => e.key));
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.at >= all[i]!.at, 'newest first');
  });

  test('decisions() has the RCPT answers of the run; top() the refusal rules and the senders', async () => {
    const d = await store.decisions(startedAt, endedAt, 100);
    const rule4 = d.tuples.find((x) => x.action === 'reject');
    assert.deepEqual(rule4, { client: STRANGER, listener: 'mx', user: null, sender: 'mallory@stranger.example', recipient: 'victim@elsewhere.example', action: 'reject', rule: 'rule 4', code: 554, count: 1, first: rule4!.first, last: rule4!.last });
    assert.equal(d.tuples.filter((x) => x.action === 'accept').length, 6);
    assert.deepEqual(await store.top('refusal', startedAt, 5), [{ key: 'rule 1', count: 1 }, { key: 'rule 4', count: 1 }]);
    const senders = await store.top('sender', startedAt, 10);
    assert.deepEqual(senders.map((r) => r.key).sort(), ['infected@stranger.example', 'mallory@stranger.example', SENDER, 'zoe@sender.example'].sort());
    assert.ok(senders.every((r) => r.count === 1), 'counted per message, not per recipient');
  });

  test('retention: a restart a month later prunes every entry and event of the run', async (t) => {
    await store.close();
    const again = await startNode(t, { args: ['start', '--data', relay.dataDir], dataDir: relay.dataDir, env: { MAILWARDEN_TEST_CLOCK_OFFSET_MS: String(31 * 86_400_000) } });
    const pruned = await again.waitLog((l) => l.event === 'tracking.pruned', 20_000);
    assert.equal(pruned.entries, 9);
    assert.equal(await again.stop(), 0);
    store = new SqliteTrackingStore(join(relay.dataDir, 'tracking.db'));
    assert.deepEqual((await store.search({})).entries, [], 'the entries of the run are gone');
    assert.equal(await store.timeline(ids.three), null);
  });
});
