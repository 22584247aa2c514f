// Relay rules 1-6 on the wire: the real daemon, real clients (swaks, nodemailer
// and raw SMTP), every client host played by its own 127.x.y.z source address.
// After each accepted message the spool (`queue list --json`) must hold it with
// the right kind, rule, client address and user.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import type { Envelope } from '../../src/queue/envelope.ts';
import { openRelayBattery } from '../../src/checks/explain.ts';
import { RawClient, relayDoc, startRelay, swaks, swaksMissing, type LogLine, type Relay, runCli as run, queuedId } from './harness.ts';

const skip = swaksMissing();

// Client hosts.
const RELAY_HOST = '127.0.0.5';
const UPSTREAM = '127.0.0.6';
const STRANGER = '127.0.0.3';
const BLACKLISTED = '127.0.8.1';
const BLACKLISTED_2 = '127.0.8.2';
const ALLOWED_IN_BLACKLIST = '127.0.8.8';
const UPSTREAM_IN_BLACKLIST = '127.0.8.9';

const PASSWORDS: Record<string, string> = { alice: 'alice-Secret-1', bob: 'bob-Secret-2', carol: 'carol-Secret-3', dave: 'dave-Secret-4' };

function settings(extraRelaying: Record<string, unknown> = {}) {
  return {
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'relayhost', type: 'host', address: RELAY_HOST },
      { name: 'upstream', type: 'host', address: UPSTREAM },
      { name: 'badnet', type: 'network', address: '127.0.8.0/24' },
      { name: 'ok-in-bad', type: 'host', address: ALLOWED_IN_BLACKLIST },
      { name: 'up-in-bad', type: 'host', address: UPSTREAM_IN_BLACKLIST },
    ],
    groups: [{ name: 'staff' }, { name: 'other' }],
    users: [
      { name: 'alice', password: PASSWORDS.alice, groups: [] },
      { name: 'bob', password: PASSWORDS.bob, groups: ['staff'] },
      { name: 'carol', password: PASSWORDS.carol, groups: ['other'] },
      { name: 'dave', password: PASSWORDS.dave, groups: ['staff'], enabled: false },
    ],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: {
      upstream_hosts: ['upstream', 'up-in-bad'],
      allowed_hosts: ['localhost', 'relayhost', 'ok-in-bad'],
      blacklist: ['badnet'],
      authenticated_relay: { enabled: true, users: ['alice', 'dave'], groups: ['staff'] },
      ...extraRelaying,
    },
    limits: { max_errors: 100, auth_failure_delay: '50ms', max_auth_failures: 50 },
  };
}

async function queueList(relay: Relay): Promise<Envelope[]> {
  const r = await run(['queue', 'list', '--json', '--data', relay.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Envelope[];
}

const cache = new WeakMap<Relay, Envelope[]>();

/** The spooled envelope of message `id` (reads `queue list --json` again only when it is not known yet). */
async function spooled(relay: Relay, id: string): Promise<Envelope> {
  let e = cache.get(relay)?.find((m) => m.id === id);
  if (!e) {
    const list = await queueList(relay);
    cache.set(relay, list);
    e = list.find((m) => m.id === id);
  }
  assert.ok(e, `message ${id} is in the spool`);
  return e;
}

interface SendOpts {
  port: number;
  src: string;
  to: string;
  from?: string;
  tls?: 'starttls' | 'implicit';
  user?: string;
  method?: 'PLAIN' | 'LOGIN';
}

/** One message through swaks. */
function sw(o: SendOpts) {
  const args = ['--server', '127.0.0.1', '--port', String(o.port), '--local-interface', o.src, '--ehlo', 'client.example', '--from', o.from ?? 'sender@example.net', '--to', o.to];
  if (o.tls === 'starttls') args.push('--tls');
  if (o.tls === 'implicit') args.push('--tls-on-connect');
  if (o.user) args.push('--auth', o.method ?? 'PLAIN', '--auth-user', o.user, '--auth-password', PASSWORDS[o.user] ?? 'wrong-password');
  return swaks(args);
}

/** One message through nodemailer; resolves with its reply or its error. */
async function nm(o: { port: number; src: string; to: string; secure?: boolean; requireTLS?: boolean; user?: string; pass?: string }) {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: o.port,
    secure: o.secure ?? false,
    requireTLS: o.requireTLS ?? false,
    ignoreTLS: !(o.secure || o.requireTLS),
    localAddress: o.src,
    name: 'client.example',
    tls: { rejectUnauthorized: false },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 10_000,
    ...(o.user ? { auth: { user: o.user, pass: o.pass ?? PASSWORDS[o.user] ?? '' } } : {}),
  });
  try {
    const info = await transport.sendMail({ from: 'sender@example.net', to: o.to, subject: 'wire rules', text: 'hello\n' });
    return { ok: true as const, response: info.response, accepted: info.accepted, rejected: info.rejected };
  } catch (err) {
    const e = err as { code?: string; responseCode?: number; response?: string };
    return { ok: false as const, code: e.code, responseCode: e.responseCode, response: e.response ?? String(err) };
  } finally {
    transport.close();
  }
}

function checkRecipients(e: Envelope, expected: { address: string; kind: 'inbound' | 'relay'; rule: string }[]): void {
  assert.deepEqual(
    e.recipients.map((r) => ({ address: r.address, kind: r.kind, rule: r.rule })),
    expected,
  );
}

test('relay rules 1, 3, 4, 5, 6 on the wire (upstream_only off)', { skip }, async (t) => {
  const { doc, ports } = await relayDoc(settings());
  const relay = await startRelay(t, doc, ports);
  const queuedIds: string[] = [];

  await t.test('rule 1: a blacklisted address is refused at connect (swaks, nodemailer, raw)', async () => {
    const r = await sw({ port: ports.mx, src: BLACKLISTED, to: 'user@example.com' });
    assert.equal(r.status, 21, r.out);
    assert.match(r.out, /<[*~]\* +554 5\.7\.1 Access denied/);
    assert.doesNotMatch(r.out, /EHLO/);

    const n = await nm({ port: ports.mx, src: BLACKLISTED_2, to: 'user@example.com' });
    assert.equal(n.ok, false);
    assert.equal(n.ok ? 0 : n.responseCode, 554);
    assert.match(n.ok ? '' : n.response, /^554 5\.7\.1 Access denied/);

    const c = await RawClient.connect(ports.mx, BLACKLISTED);
    assert.equal(await c.reply(), '554 5.7.1 Access denied');
    assert.equal(await c.closedByServer(), true);

    const line = await relay.waitLog((l) => l.event === 'connect' && l.client === BLACKLISTED);
    assert.equal(line.action, 'reject');
    assert.equal(line.rule, 'rule 1');
  });

  await t.test('rule 1: a blacklisted address that is also a relay host is served and relays', async () => {
    const r = await sw({ port: ports.mx, src: ALLOWED_IN_BLACKLIST, to: 'someone@example.org' });
    assert.equal(r.status, 0, r.out);
    const id = queuedId(r.out);
    queuedIds.push(id);
    const e = await spooled(relay, id);
    checkRecipients(e, [{ address: 'someone@example.org', kind: 'relay', rule: 'rule 4' }]);
    assert.equal(e.client.address, ALLOWED_IN_BLACKLIST);
    assert.equal(e.client.user, null);
    assert.equal(e.relayed, true);
  });

  await t.test('rule 1: a blacklisted address that is also an upstream host is served, inbound only', async () => {
    const inbound = await sw({ port: ports.mx, src: UPSTREAM_IN_BLACKLIST, to: 'info@example.com' });
    assert.equal(inbound.status, 0, inbound.out);
    const id = queuedId(inbound.out);
    queuedIds.push(id);
    const e = await spooled(relay, id);
    checkRecipients(e, [{ address: 'info@example.com', kind: 'inbound', rule: 'rule 3' }]);
    assert.equal(e.client.address, UPSTREAM_IN_BLACKLIST);
    assert.equal(e.relayed, false);

    const out = await sw({ port: ports.mx, src: UPSTREAM_IN_BLACKLIST, to: 'someone@example.org' });
    assert.equal(out.status, 24, out.out);
    assert.match(out.out, /<[*~]\* +554 5\.7\.1 Relaying denied/);
  });

  await t.test('rule 4: a relay host relays (swaks)', async () => {
    const r = await sw({ port: ports.mx, src: RELAY_HOST, to: 'someone@example.org' });
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /<- +250 2\.1\.5/);
    const id = queuedId(r.out);
    queuedIds.push(id);
    const e = await spooled(relay, id);
    checkRecipients(e, [{ address: 'someone@example.org', kind: 'relay', rule: 'rule 4' }]);
    assert.deepEqual([e.client.address, e.client.user, e.client.listener, e.client.tls, e.relayed], [RELAY_HOST, null, 'mx', false, true]);
  });

  await t.test('rule 4: a stranger is refused at RCPT (swaks and nodemailer)', async () => {
    const r = await sw({ port: ports.mx, src: STRANGER, to: 'someone@example.org' });
    assert.equal(r.status, 24, r.out);
    assert.match(r.out, /<[*~]\* +554 5\.7\.1 Relaying denied/);

    const n = await nm({ port: ports.mx, src: STRANGER, to: 'someone@example.org' });
    assert.equal(n.ok, false);
    assert.equal(n.ok ? '' : n.code, 'EENVELOPE');
    assert.equal(n.ok ? 0 : n.responseCode, 554);
    assert.match(n.ok ? '' : n.response, /^554 5\.7\.1 Relaying denied/);

    const line = await relay.waitLog((l) => l.event === 'rcpt' && l.client === STRANGER && l.recipient === 'someone@example.org');
    assert.deepEqual([line.action, line.code, line.rule], ['reject', 554, 'rule 4']);
  });

  await t.test('rule 3: inbound to a local domain from anyone (swaks; nodemailer with STARTTLS; mixed recipients)', async () => {
    const r = await sw({ port: ports.mx, src: STRANGER, to: 'User@EXAMPLE.com' });
    assert.equal(r.status, 0, r.out);
    const id = queuedId(r.out);
    const n = await nm({ port: ports.mx, src: STRANGER, to: 'info@example.com', requireTLS: true });
    assert.ok(n.ok, JSON.stringify(n));
    const id2 = queuedId(n.response);
    // One local and one foreign recipient: only the local one is taken.
    const mixed = await nm({ port: ports.mx, src: STRANGER, to: 'info@example.com, someone@example.org' });
    assert.ok(mixed.ok, JSON.stringify(mixed));
    assert.deepEqual([mixed.accepted, mixed.rejected], [['info@example.com'], ['someone@example.org']]);
    const id3 = queuedId(mixed.response);
    queuedIds.push(id, id2, id3);

    const e = await spooled(relay, id);
    checkRecipients(e, [{ address: 'User@EXAMPLE.com', kind: 'inbound', rule: 'rule 3' }]);
    assert.deepEqual([e.client.address, e.client.user, e.client.tls, e.relayed], [STRANGER, null, false, false]);
    const e2 = await spooled(relay, id2);
    checkRecipients(e2, [{ address: 'info@example.com', kind: 'inbound', rule: 'rule 3' }]);
    assert.deepEqual([e2.client.address, e2.client.tls, e2.client.helo, e2.relayed], [STRANGER, true, 'client.example', false]);
    checkRecipients(await spooled(relay, id3), [{ address: 'info@example.com', kind: 'inbound', rule: 'rule 3' }]);
  });

  await t.test('rule 4: an upstream host cannot relay without AUTH, and can after AUTH', async () => {
    const r = await sw({ port: ports.mx, src: UPSTREAM, to: 'someone@example.org' });
    assert.equal(r.status, 24, r.out);
    assert.match(r.out, /<[*~]\* +554 5\.7\.1 Relaying denied/);

    const a = await sw({ port: ports.mx, src: UPSTREAM, to: 'someone@example.org', tls: 'starttls', user: 'alice' });
    assert.equal(a.status, 0, a.out);
    assert.match(a.out, /235 2\.7\.0/);
    const id = queuedId(a.out);
    queuedIds.push(id);
    const e = await spooled(relay, id);
    checkRecipients(e, [{ address: 'someone@example.org', kind: 'relay', rule: 'rule 4' }]);
    assert.deepEqual([e.client.address, e.client.user, e.client.listener, e.client.tls, e.relayed], [UPSTREAM, 'alice', 'mx', true, true]);
  });

  await t.test('rule 4: authenticated relay by user (nodemailer, submission + STARTTLS)', async () => {
    const n = await nm({ port: ports.submission, src: STRANGER, to: 'someone@example.org', requireTLS: true, user: 'alice' });
    assert.ok(n.ok, JSON.stringify(n));
    const id = queuedId(n.response);
    queuedIds.push(id);
    const e = await spooled(relay, id);
    checkRecipients(e, [{ address: 'someone@example.org', kind: 'relay', rule: 'rule 4' }]);
    assert.deepEqual([e.client.address, e.client.user, e.client.listener, e.client.tls, e.relayed], [STRANGER, 'alice', 'submission', true, true]);
  });

  await t.test('rule 4: authenticated relay by group (nodemailer, smtps; swaks LOGIN on smtps)', async () => {
    const n = await nm({ port: ports.smtps, src: STRANGER, to: 'someone@example.org', secure: true, user: 'bob' });
    assert.ok(n.ok, JSON.stringify(n));
    const id = queuedId(n.response);
    const s = await sw({ port: ports.smtps, src: STRANGER, to: 'other@example.org', tls: 'implicit', user: 'bob', method: 'LOGIN' });
    assert.equal(s.status, 0, s.out);
    const id2 = queuedId(s.out);
    queuedIds.push(id, id2);
    const e = await spooled(relay, id);
    checkRecipients(e, [{ address: 'someone@example.org', kind: 'relay', rule: 'rule 4' }]);
    assert.deepEqual([e.client.address, e.client.user, e.client.listener, e.client.tls], [STRANGER, 'bob', 'smtps', true]);
    const e2 = await spooled(relay, id2);
    assert.deepEqual([e2.client.user, e2.recipients[0]?.kind], ['bob', 'relay']);
  });

  await t.test('rule 4: authenticated relay refused for users not named, disabled, unknown, or with a wrong password', async () => {
    const cases: { user: string; pass: string }[] = [
      { user: 'carol', pass: PASSWORDS.carol ?? '' }, // right password, neither she nor her group is named
      { user: 'dave', pass: PASSWORDS.dave ?? '' }, // named, but disabled
      { user: 'mallory', pass: 'whatever-1' }, // unknown
      { user: 'alice', pass: 'not-her-password' }, // wrong password
    ];
    for (const c of cases) {
      const n = await nm({ port: ports.submission, src: STRANGER, to: 'someone@example.org', requireTLS: true, user: c.user, pass: c.pass });
      assert.equal(n.ok, false, `${c.user} must not get in`);
      assert.equal(n.ok ? '' : n.code, 'EAUTH', c.user);
      assert.equal(n.ok ? 0 : n.responseCode, 535, c.user);
      assert.match(n.ok ? '' : n.response, /^535 5\.7\.8 /, c.user);
    }
    // carol on smtps with swaks: the same answer.
    const s = await sw({ port: ports.smtps, src: STRANGER, to: 'someone@example.org', tls: 'implicit', user: 'carol' });
    assert.equal(s.status, 28, s.out);
    assert.match(s.out, /<[*~]\* +535 5\.7\.8 Authentication credentials invalid/);
    // The failed logins let no mail through: nothing was queued for these users.
    const users = new Set((await queueList(relay)).map((m) => m.client.user));
    for (const u of ['carol', 'dave', 'mallory']) assert.equal(users.has(u), false, u);
  });

  const batteryReplies = new Map<string, Map<string, string>>();
  await t.test('rules 5, 6: the open-relay battery from clients without a relay right: nothing relayed, postmaster inbound', async () => {
    const battery = openRelayBattery('example.com');
    const postmasterIds = new Map<string, string>();
    for (const src of [STRANGER, UPSTREAM]) {
      const replies = new Map<string, string>();
      batteryReplies.set(src, replies);
      const c = await RawClient.connect(ports.mx, src);
      assert.match((await c.reply()) ?? '', /^220 /);
      assert.match((await c.cmd('EHLO prober.example')) ?? '', /^250[- ]/);
      assert.match((await c.cmd('MAIL FROM:<probe@example.net>')) ?? '', /^250 /);
      for (const address of battery) {
        const reply = (await c.cmd(`RCPT TO:${address.startsWith('<') ? address : `<${address}>`}`)) ?? '(closed)';
        replies.set(address, reply);
        if (address === '<postmaster>') assert.match(reply, /^250 2\.1\.5/, `${src} ${address}`);
        else assert.match(reply, /^5\d\d 5\.\d\.\d /, `${src} ${address} must be refused, got ${reply}`);
      }
      assert.match((await c.cmd('DATA')) ?? '', /^354/);
      const queued = (await c.cmd(`Subject: battery from ${src}\r\n\r\nprobe\r\n.`)) ?? '';
      postmasterIds.set(src, queuedId(queued));
      await c.cmd('QUIT');
      c.end();
    }
    for (const [src, id] of postmasterIds) {
      queuedIds.push(id);
      const e = await spooled(relay, id);
      checkRecipients(e, [{ address: 'postmaster', kind: 'inbound', rule: 'rule 6' }]);
      assert.deepEqual([e.client.address, e.relayed], [src, false]);
    }
    // Nothing from these clients was accepted as relay, on the wire or in the spool.
    const relayedRcpt = relay.logs.filter((l) => l.event === 'rcpt' && (l.client === STRANGER || l.client === UPSTREAM) && l.user === null && l.action === 'accept' && l.kind === 'relay');
    assert.deepEqual(relayedRcpt, []);
    for (const l of relay.logs.filter((x) => x.event === 'queued' && (x.client === STRANGER || x.client === UPSTREAM) && x.user === null)) {
      assert.equal(l.relayed, false, JSON.stringify(l));
      for (const r of l.recipients as { kind: string }[]) assert.equal(r.kind, 'inbound', JSON.stringify(l));
    }
    for (const e of cache.get(relay) ?? []) {
      if ((e.client.address === STRANGER || e.client.address === UPSTREAM) && e.client.user === null) {
        assert.equal(e.relayed, false, e.id);
        assert.ok(e.recipients.every((r) => r.kind === 'inbound'), e.id);
      }
    }
  });

  await t.test('rule 5: a relay host may use the battery addresses that are well-formed (control)', async () => {
    const c = await RawClient.connect(ports.mx, RELAY_HOST);
    await c.reply();
    await c.cmd('EHLO relay.example');
    await c.cmd('MAIL FROM:<a@example.net>');
    for (const a of ['user@victim.example', 'user%victim.example@example.com', 'victim.example!user@example.com', 'user@[192.0.2.7]', '@example.com:user@victim.example']) {
      assert.match((await c.cmd(`RCPT TO:<${a}>`)) ?? '', /^250 2\.1\.5/, a);
    }
    c.end();
  });

  await t.test('the wire answers each battery address as `policy test-open-relay` says it will', async () => {
    // `policy test-open-relay` / `policy explain` promise the verdict the wire gives.
    const mismatches: string[] = [];
    for (const src of [STRANGER, RELAY_HOST]) {
      const r = await run(['policy', 'test-open-relay', '--json', '--client', src, '--domain', 'example.com', '--data', relay.dataDir]);
      const list = (JSON.parse(r.stdout) as { results: { to: string; code: number; enhanced: string }[] }).results;
      assert.equal(list.length, openRelayBattery('example.com').length, r.stdout);
      let wire = batteryReplies.get(src);
      if (!wire) {
        wire = new Map();
        const c = await RawClient.connect(ports.mx, src);
        await c.reply();
        await c.cmd('EHLO prober.example');
        await c.cmd('MAIL FROM:<probe@example.net>');
        for (const row of list) wire.set(row.to, (await c.cmd(`RCPT TO:${row.to.startsWith('<') ? row.to : `<${row.to}>`}`)) ?? '(closed)');
        c.end();
      }
      for (const row of list) {
        const got = wire.get(row.to) ?? '';
        if (!got.startsWith(`${row.code} ${row.enhanced} `)) mismatches.push(`${src} RCPT TO:<${row.to.replace(/^<|>$/g, '')}>: policy says ${row.code} ${row.enhanced}, wire says "${got}"`);
      }
    }
    assert.deepEqual(mismatches, []);
  });

  await t.test('rule 3: local-domain forms the rules accept (trailing dot, quoted local part) are accepted on the wire', async () => {
    // ARCHITECTURE.md: a local domain is compared "case-insensitive, trailing dot ignored";
    // RFC 5321 allows a quoted-string local part with a space. `policy explain` says 250 inbound for both.
    const c = await RawClient.connect(ports.mx, STRANGER);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@example.net>');
    const got: Record<string, string> = {};
    for (const a of ['info@EXAMPLE.COM.', '"john doe"@example.com']) got[a] = ((await c.cmd(`RCPT TO:<${a}>`)) ?? '').slice(0, 9);
    c.end();
    assert.deepEqual(got, { 'info@EXAMPLE.COM.': '250 2.1.5', '"john doe"@example.com': '250 2.1.5' });
  });

  await t.test('every accepted message is in the spool once', async () => {
    const ids = (await queueList(relay)).map((e) => e.id);
    for (const id of queuedIds) assert.equal(ids.filter((x) => x === id).length, 1, id);
    const logged = relay.logs.filter((l) => l.event === 'queued').map((l) => l.id);
    assert.deepEqual([...ids].sort(), [...(logged as string[])].sort());
  });
});

test('rule 2 on the wire: upstream/relay hosts only', { skip }, async (t) => {
  const { doc, ports } = await relayDoc(settings({ upstream_only: true }));
  const relay = await startRelay(t, doc, ports);

  await t.test('a stranger is refused at connect (mx with swaks, smtps with nodemailer and a valid login)', async () => {
    const r = await sw({ port: ports.mx, src: STRANGER, to: 'info@example.com' });
    assert.equal(r.status, 21, r.out);
    assert.match(r.out, /<[*~]\* +554 5\.7\.1 Access denied/);
    // Even with a valid login: AUTH never gets a chance (smtps, nodemailer).
    const n = await nm({ port: ports.smtps, src: STRANGER, to: 'someone@example.org', secure: true, user: 'alice' });
    assert.equal(n.ok, false);
    assert.equal(n.ok ? 0 : n.responseCode, 554);
    assert.match(n.ok ? '' : n.response, /^554 5\.7\.1 Access denied/);
    // The log comes over stdout, the replies over TCP: wait for the second line rather than race it.
    const isStranger = (l: LogLine) => l.event === 'connect' && l.client === STRANGER;
    await relay.waitLog((l) => isStranger(l) && relay.logs.filter(isStranger).length >= 2).catch(() => null);
    const lines = relay.logs.filter(isStranger);
    assert.equal(lines.length, 2);
    for (const l of lines) assert.deepEqual([l.action, l.rule], ['reject', 'rule 2']);
    assert.equal(relay.logs.some((l) => l.event === 'auth' && l.client === STRANGER), false);
  });

  await t.test('an upstream host is served: inbound yes, relay only after AUTH', async () => {
    const inbound = await sw({ port: ports.mx, src: UPSTREAM, to: 'info@example.com' });
    assert.equal(inbound.status, 0, inbound.out);

    const out = await sw({ port: ports.mx, src: UPSTREAM, to: 'someone@example.org' });
    assert.equal(out.status, 24, out.out);
    assert.match(out.out, /<[*~]\* +554 5\.7\.1 Relaying denied/);

    const n = await nm({ port: ports.submission, src: UPSTREAM, to: 'someone@example.org', requireTLS: true, user: 'bob' });
    assert.ok(n.ok, JSON.stringify(n));
    const id2 = queuedId(n.response);
    const e = await spooled(relay, queuedId(inbound.out));
    checkRecipients(e, [{ address: 'info@example.com', kind: 'inbound', rule: 'rule 3' }]);
    assert.equal(e.client.address, UPSTREAM);
    const e2 = await spooled(relay, id2);
    checkRecipients(e2, [{ address: 'someone@example.org', kind: 'relay', rule: 'rule 4' }]);
    assert.deepEqual([e2.client.address, e2.client.user], [UPSTREAM, 'bob']);
  });

  await t.test('a relay host is served and relays', async () => {
    const r = await sw({ port: ports.mx, src: RELAY_HOST, to: 'someone@example.org' });
    assert.equal(r.status, 0, r.out);
    const e = await spooled(relay, queuedId(r.out));
    checkRecipients(e, [{ address: 'someone@example.org', kind: 'relay', rule: 'rule 4' }]);
    assert.deepEqual([e.client.address, e.relayed], [RELAY_HOST, true]);
    const line = await relay.waitLog((l) => l.event === 'connect' && l.client === RELAY_HOST);
    assert.deepEqual([line.action, line.rule], ['accept', 'rule 2']);
  });

  await t.test('a blacklisted address inside the allowed host is still served; the rest of its network is not', async () => {
    const ok = await sw({ port: ports.mx, src: ALLOWED_IN_BLACKLIST, to: 'someone@example.org' });
    assert.equal(ok.status, 0, ok.out);
    const no = await sw({ port: ports.mx, src: BLACKLISTED, to: 'info@example.com' });
    assert.equal(no.status, 21, no.out);
    assert.match(no.out, /<[*~]\* +554 5\.7\.1 Access denied/);
  });
});

test('rule 5 refusals on the wire are logged and count toward limits.max_errors like every other refusal', async (t) => {
  const base = settings();
  const { doc, ports } = await relayDoc({ ...base, limits: { max_errors: 10 } });
  const relay = await startRelay(t, doc, ports);
  // Ten refused RCPTs end the session with 421 4.7.0 (docs/configuration.md, max_errors).
  const tenRefusals = async (src: string, address: string): Promise<string[]> => {
    const c = await RawClient.connect(ports.mx, src);
    await c.reply();
    await c.cmd('EHLO prober.example');
    await c.cmd('MAIL FROM:<probe@example.net>');
    const replies: string[] = [];
    for (let i = 0; i < 10; i++) replies.push(((await c.cmd(`RCPT TO:<${address}>`)) ?? '(closed)').slice(0, 9));
    c.end();
    return replies;
  };
  // Control: a plain foreign address.
  assert.deepEqual(await tenRefusals(STRANGER, 'user@victim.example'), [...Array<string>(9).fill('554 5.7.1'), '421 4.7.0']);
  // The log comes over the daemon's stdout, the replies over TCP: the last line may still be on its way.
  const countOf = (pred: (l: LogLine) => boolean) => relay.logs.filter(pred).length;
  const plain = (l: LogLine) => l.event === 'rcpt' && l.recipient === 'user@victim.example';
  await relay.waitLog((l) => plain(l) && countOf(plain) >= 10).catch(() => null);
  assert.equal(countOf(plain), 10);

  // Routing-operator addresses that the rules refuse by rule 5 (docs/relay-rules.md): same treatment expected.
  for (const [src, address] of [['127.0.0.11', 'user@victim.example@example.com'], ['127.0.0.12', '"user@victim.example"@example.com']] as const) {
    const replies = await tenRefusals(src, address);
    const fromSrc = (l: LogLine) => l.event === 'rcpt' && l.client === src;
    await relay.waitLog((l) => fromSrc(l) && countOf(fromSrc) >= 10).catch(() => null);
    const logged = relay.logs.filter(fromSrc);
    // The tenth is logged as the 421 sent (rule limits.max_errors); refused_for keeps the rule that refused it.
    const earned = (l: LogLine) => (l.refused_for as { rule?: unknown } | undefined)?.rule ?? l.rule;
    assert.deepEqual(
      { last: replies.at(-1), logged: logged.length, rules: [...new Set(logged.map(earned))], lastLogged: [logged.at(-1)?.code, logged.at(-1)?.rule] },
      { last: '421 4.7.0', logged: 10, rules: ['rule 5'], lastLogged: [421, 'limits.max_errors'] },
      `${address}: replies ${JSON.stringify(replies)}`,
    );
  }
});
