// Rate limits (limits.rate) through the real daemon: per user in one session
// and across connections (450 4.7.1 at MAIL, others unaffected), per group
// at RCPT with reject (550 5.7.1, the members sharing one bucket), per client
// with hold (accepted, held in the queue, not delivered until `queue release`,
// then delivered to a real sink); each trip logged with the limit, who, the
// count and the window; `limits show --json` while running and with the
// daemon stopped; and the counters reset in the next window (the daemon
// restarted with its clock a day on, MAILWARDEN_TEST_CLOCK_OFFSET_MS).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RawClient, relayDoc, runCli, startNode, swaks, swaksMissing, queueEnvelopes, tempDataDir, type Relay } from './harness.ts';
import { startSink } from '../delivery/sink.ts';
import type { RateCounterView } from '../../src/limits/rate-view.ts';

const PASSWORD = 'Rate-pw-5c0a1e';
const plain = (user: string) => Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64');

async function login(relay: Relay, user: string): Promise<RawClient> {
  const c = await RawClient.connect(relay.ports.submission, '127.0.0.2');
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  await c.starttls();
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  assert.equal(await c.cmd(`AUTH PLAIN ${plain(user)}`), '235 2.7.0 Authentication successful');
  return c;
}

async function message(c: RawClient, from: string, rcpts: string[]): Promise<string> {
  assert.match((await c.cmd(`MAIL FROM:<${from}>`)) ?? '', /^250 /);
  for (const r of rcpts) assert.match((await c.cmd(`RCPT TO:<${r}>`)) ?? '', /^250 /);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  return (await c.cmd(`From: ${from}\r\nTo: ${rcpts.join(', ')}\r\nSubject: rate\r\n\r\nbody\r\n.`)) ?? '';
}

const HOUR = 3_600_000;

/**
 * The daemon's clock offset (MAILWARDEN_TEST_CLOCK_OFFSET_MS) that puts it a
 * second into a fresh hour: the windows are fixed, and a test that crossed an
 * hour's end would see its counts start over. `plus` moves it further on.
 */
function freshHour(plus = 0): string {
  const now = Date.now();
  return String(Math.ceil(now / HOUR) * HOUR + 1000 - now + plus);
}

/** The daemon on `doc`, its clock at the start of an hour. */
async function start(t: { after: (fn: () => void | Promise<void>) => void }, doc: Record<string, unknown>, dataDir = tempDataDir(t), plus = 0): Promise<Relay> {
  const file = join(dataDir, 'settings.yaml');
  writeFileSync(file, stringify(doc));
  const relay = await startNode(t, { args: ['start', '--data', dataDir, '--config', file], dataDir, env: { MAILWARDEN_TEST_CLOCK_OFFSET_MS: freshHour(plus) } });
  return relay;
}

async function limitsShow(dataDir: string): Promise<RateCounterView[]> {
  const r = await runCli(['limits', 'show', '--json', '--data', dataDir]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as RateCounterView[];
}

test('rate limits per user and per group, defer and reject, across connections; limits show; reset in the next window', async (t) => {
  const { doc } = await relayDoc({
    groups: [{ name: 'sales' }],
    users: [
      { name: 'kai', password: PASSWORD, groups: ['sales'] },
      { name: 'lee', password: PASSWORD, groups: ['sales'] },
      { name: 'max', password: PASSWORD, groups: [] },
    ],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['kai', 'lee', 'max'] } },
    limits: {
      rate: [
        { name: 'user hourly', who: 'user', messages: 2, per: '1h', action: 'defer' },
        { name: 'sales daily', who: 'group', match: 'sales', recipients: 5, per: '1d', action: 'reject' },
      ],
    },
  });
  const relay = await start(t, doc);

  await t.test('per user: two messages in one session, the third deferred at MAIL, and on a new connection too', async () => {
    const c = await login(relay, 'kai');
    assert.match(await message(c, 'kai@example.com', ['a@remote.example']), /^250 2\.0\.0 /);
    assert.match(await message(c, 'kai@example.com', ['b@remote.example']), /^250 2\.0\.0 /);
    assert.equal(await c.cmd('MAIL FROM:<kai@example.com>'), '450 4.7.1 Rate limit exceeded (messages per 1h), try again later');
    c.end();
    const again = await login(relay, 'kai');
    assert.equal(await again.cmd('MAIL FROM:<kai@example.com>'), '450 4.7.1 Rate limit exceeded (messages per 1h), try again later');
    again.end();
    const trip = await relay.waitLog((l) => l.event === 'rate.limited' && l.user === 'kai');
    assert.equal(trip.limit, 0);
    assert.equal(trip.name, 'user hourly');
    assert.equal(trip.who, 'user');
    assert.equal(trip.value, 'kai');
    assert.equal(trip.count, 2);
    assert.equal(trip.max, 2);
    assert.equal(trip.per, '1h');
    assert.equal(trip.action, 'defer');
    assert.match(String(trip.resets_at), /^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);
    const mail = await relay.waitLog((l) => l.event === 'mail' && l.action === 'tempfail' && l.rule === 'limits.rate[0]');
    assert.ok(mail);
  });

  await t.test('another user is not affected; the group counts its members together and rejects at RCPT', async () => {
    // kai used 2 of sales' 5 recipients; lee brings 3 more, the sixth is refused.
    const c = await login(relay, 'lee');
    assert.match((await c.cmd('MAIL FROM:<lee@example.com>')) ?? '', /^250 /);
    for (const r of ['c', 'd', 'e']) assert.match((await c.cmd(`RCPT TO:<${r}@remote.example>`)) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<c@remote.example>')) ?? '', /^250 /, 'a repeated recipient costs nothing');
    assert.equal(await c.cmd('RCPT TO:<f@remote.example>'), '550 5.7.1 Rate limit exceeded (recipients per 1d)');
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    assert.match((await c.cmd('Subject: x\r\n\r\nbody\r\n.')) ?? '', /^250 2\.0\.0 /, 'the recipients within the limit are accepted');
    c.end();
    const m = await login(relay, 'max');
    assert.match(await message(m, 'max@example.com', ['f@remote.example', 'g@remote.example']), /^250 2\.0\.0 /, 'max is in no group');
    m.end();
    const trip = await relay.waitLog((l) => l.event === 'rate.limited' && l.who === 'group');
    // The count is what was committed (kai's 2); lee's 3 accepted recipients join it only with the message.
    assert.deepEqual([trip.value, trip.count, trip.max, trip.action, trip.unit], ['sales', 2, 5, 'reject', 'recipients']);
  });

  await t.test('limits show lists the counters while running and with the daemon stopped', async () => {
    const want = (v: RateCounterView[]) =>
      v
        .filter((x) => x.limit !== null)
        .map((x) => `${x.name} ${x.value} ${x.unit} ${x.count}/${x.max}`)
        .sort();
    const expected = ['sales daily sales recipients 5/5', 'user hourly kai messages 2/2', 'user hourly lee messages 1/2', 'user hourly max messages 1/2'];
    // The daemon hands its counts to the store every second: wait for them rather than guess.
    const deadline = Date.now() + 10_000;
    let seen: string[] = [];
    while (Date.now() < deadline) {
      seen = want(await limitsShow(relay.dataDir));
      if (JSON.stringify(seen) === JSON.stringify(expected)) break;
    }
    assert.deepEqual(seen, expected);
    const row = (await limitsShow(relay.dataDir)).find((x) => x.value === 'kai');
    assert.ok(row && Date.parse(row.resets_at) - Date.parse(row.window_start) === 3_600_000);
    assert.equal(await relay.stop(), 0);
    assert.deepEqual(want(await limitsShow(relay.dataDir)), expected);
    const text = await runCli(['limits', 'show', '--data', relay.dataDir]);
    assert.match(text.stdout, /^LIMIT\s+WHO\s+VALUE\s+UNIT\s+COUNT\s+PER\s+ACTION\s+RESETS AT\n/);
    assert.match(text.stdout, /user hourly\s+user\s+kai\s+messages\s+2\/2\s+1h\s+defer/);
  });

  await t.test('the next window starts from zero (the daemon restarted with its clock a day on)', async (tt) => {
    const later = await start(tt, doc, relay.dataDir, 86_400_000);
    const c = await login(later, 'kai');
    assert.match(await message(c, 'kai@example.com', ['h@remote.example']), /^250 2\.0\.0 /);
    c.end();
    const l = await login(later, 'lee');
    assert.match(await message(l, 'lee@example.com', ['i@remote.example']), /^250 2\.0\.0 /, "the group's day is new too");
    l.end();
  });
});

test('rate limit with action hold: accepted, held in the queue, delivered only once released', { skip: swaksMissing() }, async (t) => {
  const sink = await startSink({ address: '127.0.0.31' });
  t.after(() => sink.close());
  const { doc } = await relayDoc({
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1' }],
    delivery: { enabled: true, smarthost: { host: '127.0.0.31', port: sink.port, tls: 'opportunistic' } },
    limits: { rate: [{ who: 'client', match: 'localhost', messages: 1, per: '1h', action: 'hold', comment: 'one a minute, then an admin looks' }] },
  });
  const relay = await start(t, doc);
  const send = (subject: string) => swaks(['--server', '127.0.0.1', '--port', String(relay.ports.mx), '--from', 'app@example.com', '--to', 'ops@remote.example', '--header', `Subject: ${subject}`]);
  const first = await send('first');
  assert.equal(first.status, 0, first.out);
  await sink.waitFor(1);
  const second = await send('second');
  assert.equal(second.status, 0, second.out);
  assert.match(second.out, /250 2\.0\.0 Ok: queued as /);
  const trip = await relay.waitLog((l) => l.event === 'rate.limited');
  assert.deepEqual([trip.who, trip.value, trip.count, trip.max, trip.action, trip.per], ['client', '127.0.0.1', 1, 1, 'hold', '1h']);
  const queued = await relay.waitLog((l) => l.event === 'queued' && l.held === true);
  assert.equal(queued.rule, 'rate limit limits.rate[0]');

  const held = await queueEnvelopes(relay);
  assert.equal(held.length, 1);
  assert.equal(held[0]?.held, true);
  assert.equal(held[0]?.history?.[0]?.event, 'hold');
  const list = await runCli(['queue', 'list', '--state', 'held', '--data', relay.dataDir]);
  assert.match(list.stdout, new RegExp(held[0]!.id));
  // Not delivered: a retry of everything due leaves it alone.
  const retried = await runCli(['queue', 'retry', '--all', '--data', relay.dataDir]);
  assert.equal(retried.status, 0, retried.stderr);
  assert.equal(sink.messages.length, 1);

  const rel = await runCli(['queue', 'release', held[0]!.id, '--data', relay.dataDir]);
  assert.equal(rel.status, 0, rel.stderr);
  const got = await sink.waitFor(2);
  assert.match(got[1]?.raw.toString() ?? '', /Subject: second/);

  // The held message counted when it was committed: the next one trips with two counted.
  const third = await send('third');
  assert.equal(third.status, 0, third.out);
  await relay.waitLogs((l) => l.event === 'rate.limited', 2);
  const trips = relay.logs.filter((l) => l.event === 'rate.limited');
  assert.equal(trips[1]?.count, 2, 'the held message is counted');
});

test('messages count when committed: MAIL + RSET loops (forged from port 25, or by the sender itself) burn nobody\'s sender_domain budget', async (t) => {
  const { doc } = await relayDoc({
    users: [{ name: 'kai', password: PASSWORD, groups: [] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['kai'] } },
    limits: { rate: [{ name: 'domain daily', who: 'sender_domain', messages: 2, per: '1d', action: 'defer' }] },
  });
  const relay = await start(t, doc);
  // Anyone on port 25 (no relay right) names the victim's domain and gives up, many times.
  const mx = await RawClient.connect(relay.ports.mx, '127.0.0.9');
  assert.match((await mx.reply()) ?? '', /^220 /);
  assert.match((await mx.cmd('EHLO forger.example')) ?? '', /^250[- ]/);
  for (let i = 0; i < 30; i++) {
    assert.match((await mx.cmd(`MAIL FROM:<x${i}@example.com>`)) ?? '', /^250 /, `forged MAIL ${i + 1}`);
    assert.match((await mx.cmd('RSET')) ?? '', /^250 /);
  }
  mx.end();
  // The real sender abandons transactions of its own too: they cost nothing either.
  const c = await login(relay, 'kai');
  for (let i = 0; i < 5; i++) {
    assert.match((await c.cmd('MAIL FROM:<kai@example.com>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<a@remote.example>')) ?? '', /^250 /);
    assert.match((await c.cmd('RSET')) ?? '', /^250 /);
  }
  assert.match(await message(c, 'kai@example.com', ['a@remote.example']), /^250 2\.0\.0 /, 'the real sender still gets through');
  assert.match(await message(c, 'kai@example.com', ['b@remote.example']), /^250 2\.0\.0 /);
  assert.equal(await c.cmd('MAIL FROM:<kai@example.com>'), '450 4.7.1 Rate limit exceeded (messages per 1h), try again later'.replace('1h', '1d'));
  c.end();
  const trip = await relay.waitLog((l) => l.event === 'rate.limited');
  assert.deepEqual([trip.who, trip.value, trip.count], ['sender_domain', 'example.com', 2]);
});

test('who: client counts an IPv6 client by its /64 (limits.ipv6_client_prefix): new addresses from one network share one bucket', async (t) => {
  const { doc } = await relayDoc({
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'proxy', type: 'host', address: '127.0.0.4' },
      { name: 'v6', type: 'network', address: '2001:db8:1::/48' },
    ],
    relaying: { allowed_hosts: ['localhost', 'v6'] },
    limits: { rate: [{ who: 'client', messages: 1, per: '1h', action: 'defer' }] },
  });
  (doc.listeners as Record<string, unknown>[])[0]!.trusted_proxies = ['proxy'];
  const relay = await start(t, doc);
  // The only way to play many IPv6 clients on loopback: a trusted proxy names them.
  const from = async (client: string): Promise<RawClient> => {
    const c = await RawClient.connect(relay.ports.mx, '127.0.0.4');
    c.socket.write(`PROXY TCP6 ${client} ::1 40000 25\r\n`);
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    return c;
  };
  const a = await from('2001:db8:1:2::a');
  assert.match(await message(a, 'app@example.com', ['ops@remote.example']), /^250 2\.0\.0 /);
  a.end();
  // Another address of the same /64: the same client, over its one message.
  const b = await from('2001:db8:1:2:ffff::b');
  assert.equal(await b.cmd('MAIL FROM:<app@example.com>'), '450 4.7.1 Rate limit exceeded (messages per 1h), try again later');
  b.end();
  const trip = await relay.waitLog((l) => l.event === 'rate.limited');
  assert.deepEqual([trip.who, trip.value, trip.count, trip.client], ['client', '2001:db8:1:2::/64', 1, '2001:db8:1:2:ffff::b']);
  // The next /64 is another client.
  const c = await from('2001:db8:1:3::a');
  assert.match(await message(c, 'app@example.com', ['ops@remote.example']), /^250 2\.0\.0 /);
  c.end();
  await relay.waitLogs((l) => l.event === 'queued', 2);
  const shown = await waitCounters(relay.dataDir, 2);
  assert.deepEqual(shown.map((v) => v.value).sort(), ['2001:db8:1:2::/64', '2001:db8:1:3::/64']);
});

/** `limits show` once the daemon's flush (every second) has written `n` counters: each CLI run is the wait. */
async function waitCounters(dataDir: string, n: number): Promise<RateCounterView[]> {
  const deadline = Date.now() + 10_000;
  let v: RateCounterView[] = [];
  while (Date.now() < deadline) {
    v = await limitsShow(dataDir);
    if (v.length >= n) break;
  }
  return v;
}
