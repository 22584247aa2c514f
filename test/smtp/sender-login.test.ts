// Senders bound to their login on the wire, through the real daemon on the
// submission listener (STARTTLS, AUTH PLAIN) to a real next hop (the
// smarthost is test/delivery/sink.ts): the user's own address is accepted
// and relayed, another is refused 553 5.7.1 naming the user, <> passes, a
// header From: that is not theirs is refused 550 5.7.1 at the end of DATA
// with nothing queued or delivered; `domain` mode allows the user's domains;
// header_from_login off lets a foreign From: through; refusals count
// towards limits.max_errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, spoolFiles, startRelay, queuedIds, type Relay } from './harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';

const PASSWORD = 'Kai-pw-4e1d7a';
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');
type T = { after: (fn: () => void | Promise<void>) => void };

async function setup(t: T, relaying: Record<string, unknown>, limits: Record<string, unknown> = {}): Promise<{ relay: Relay; sink: Sink }> {
  const sink = await startSink({ address: '127.0.0.23' });
  t.after(() => sink.close());
  const { doc, ports } = await relayDoc({
    users: [{ name: 'kai', password: PASSWORD, groups: [], addresses: ['kai@example.com', 'k.berg@example.com'] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['kai'] }, ...relaying },
    delivery: { enabled: true, smarthost: { host: '127.0.0.23', port: sink.port, tls: 'opportunistic' } },
    limits,
  });
  return { relay: await startRelay(t, doc, ports), sink };
}

/** Greeting, EHLO, STARTTLS, EHLO, AUTH PLAIN as kai; by default on submission from an address with no relay right. */
async function login(relay: Relay, port = relay.ports.submission, src = '127.0.0.2'): Promise<RawClient> {
  const c = await RawClient.connect(port, src);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  await c.starttls();
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  assert.equal(await c.cmd(`AUTH PLAIN ${plain('kai', PASSWORD)}`), '235 2.7.0 Authentication successful');
  return c;
}

/** MAIL, RCPT, DATA with a header From:, and the reply to the final dot. */
async function send(c: RawClient, from: string, headerFrom: string, subject: string): Promise<string> {
  assert.match((await c.cmd(`MAIL FROM:${from}`)) ?? '', /^250 2\.1\.0/);
  assert.match((await c.cmd('RCPT TO:<friend@remote.example>')) ?? '', /^250 2\.1\.5/);
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  return (await c.cmd(`From: ${headerFrom}\r\nTo: friend@remote.example\r\nSubject: ${subject}\r\n\r\nbody\r\n.`)) ?? '';
}

test('sender_login: address, header From: checked', async (t) => {
  const { relay, sink } = await setup(t, { sender_login: 'address' }, { max_errors: 4 });
  let delivered = 0;

  await t.test('own address (any case, a sub-address) and own From: are accepted and relayed', async () => {
    const c = await login(relay);
    assert.match(await send(c, '<KAI@example.com>', '"Kai Berg" <kai@example.com>', 'one'), /^250 2\.0\.0 Ok: queued as /);
    assert.match(await send(c, '<kai+lists@example.com>', 'k.berg@example.com', 'two'), /^250 2\.0\.0 /);
    c.end();
    const got = await sink.waitFor((delivered += 2));
    assert.deepEqual(got.map((m) => m.from).sort(), ['KAI@example.com', 'kai+lists@example.com']);
    assert.deepEqual(got[0]?.to, ['friend@remote.example']);
  });

  await t.test('another address: 553 5.7.1 naming the user, logged with the rule', async () => {
    const c = await login(relay);
    assert.equal(await c.cmd('MAIL FROM:<ceo@bank.example>'), '553 5.7.1 Sender address not owned by user kai');
    assert.equal(await c.cmd('MAIL FROM:<anna@example.com>'), '553 5.7.1 Sender address not owned by user kai');
    // The transaction can go on with an own address.
    assert.match((await c.cmd('MAIL FROM:<kai@example.com>')) ?? '', /^250 2\.1\.0/);
    c.end();
    const line = await relay.waitLog((l) => l.event === 'mail' && JSON.stringify(l).includes('ceo@bank.example'));
    assert.match(JSON.stringify(line), /relaying\.sender_login/);
  });

  await t.test('<> is accepted (with an own From:)', async () => {
    const c = await login(relay);
    assert.match(await send(c, '<>', 'kai@example.com', 'bounce'), /^250 2\.0\.0 /);
    c.end();
    const got = await sink.waitFor((delivered += 1));
    assert.ok(got.some((m) => m.from === ''));
  });

  await t.test('a foreign header From: is refused 550 5.7.1 at the end of DATA, nothing queued or delivered', async () => {
    const c = await login(relay);
    const r = await send(c, '<kai@example.com>', 'Kai <kai@example.com>, ceo@bank.example', 'forged');
    assert.equal(r, '550 5.7.1 Sender address in From: not owned by user kai');
    const refused = await relay.waitLog((l) => l.event === 'antispam.refused' && l.rule === 'relaying.header_from_login');
    assert.match(String(refused.reason), /ceo@bank\.example is not one of the user's addresses/);
    const id = String(refused.id);
    assert.match(id, /^[0-9a-z]{16}$/);
    assert.equal(queuedIds(relay).includes(id), false, 'nothing queued');
    assert.equal(relay.logs.some((l) => l.event === 'queued' && l.id === id), false);
    assert.equal(spoolFiles(relay).tmp.some((f) => f.startsWith(id)), false, 'the spooled copy is gone');
    // The session goes on: a good message after it is the next the sink gets, and the forged one never arrives.
    assert.match(await send(c, '<kai@example.com>', 'kai@example.com', 'after'), /^250 2\.0\.0 /);
    c.end();
    const got = await sink.waitFor((delivered += 1));
    assert.equal(got.some((m) => m.raw.toString('latin1').includes('Subject: forged')), false);
    assert.ok(got.at(-1)?.raw.toString('latin1').includes('Subject: after'));
  });

  await t.test('a message past the spool\'s memory (read back from the file): a folded foreign From: is refused, an own one passes', async () => {
    const body = `${'x'.repeat(998)}\r\n`.repeat(300);
    const c = await login(relay);
    assert.match((await c.cmd('MAIL FROM:<kai@example.com>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<friend@remote.example>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    assert.equal(await c.cmd(`Subject: big\r\nFrom: "Kai"\r\n <kai@example.com>,\r\n\tceo@bank.example\r\n\r\n${body}.`), '550 5.7.1 Sender address in From: not owned by user kai');
    assert.match((await c.cmd('MAIL FROM:<kai@example.com>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<friend@remote.example>')) ?? '', /^250 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    assert.match((await c.cmd(`Subject: big\r\nFrom: "Kai"\r\n <kai@example.com>\r\n\r\n${body}.`)) ?? '', /^250 2\.0\.0 /);
    c.end();
    const got = await sink.waitFor((delivered += 1));
    assert.equal(got.filter((m) => m.raw.toString('latin1').includes('Subject: big')).length, 1);
  });

  await t.test('a relay host that logs in is bound too; without logging in it is not', async () => {
    const c = await login(relay, relay.ports.mx, '127.0.0.1');
    assert.equal(await c.cmd('MAIL FROM:<ceo@bank.example>'), '553 5.7.1 Sender address not owned by user kai');
    c.end();
    const anon = await RawClient.connect(relay.ports.mx, '127.0.0.1');
    assert.match((await anon.reply()) ?? '', /^220 /);
    assert.match((await anon.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    assert.match((await anon.cmd('MAIL FROM:<ceo@bank.example>')) ?? '', /^250 2\.1\.0/);
    anon.end();
  });

  await t.test('refusals count towards limits.max_errors', async () => {
    const c = await login(relay);
    for (let i = 0; i < 3; i++) assert.match((await c.cmd('MAIL FROM:<ceo@bank.example>')) ?? '', /^553 5\.7\.1 /);
    assert.match((await c.cmd('MAIL FROM:<ceo@bank.example>')) ?? '', /^421 4\.7\.0 /);
    assert.equal(await c.closedByServer(), true);
  });
});

test('sender_login: domain, header_from_login off', async (t) => {
  const { relay, sink } = await setup(t, { sender_login: 'domain', header_from_login: false });

  await t.test('any address of the user\'s domains is accepted; another domain is refused', async () => {
    const c = await login(relay);
    assert.match(await send(c, '<anna@Example.com>', 'anna@example.com', 'domain'), /^250 2\.0\.0 /);
    assert.equal(await c.cmd('MAIL FROM:<kai@example.org>'), '553 5.7.1 Sender address not owned by user kai');
    c.end();
    const [m] = await sink.waitFor(1);
    assert.equal(m?.from, 'anna@Example.com');
  });

  await t.test('header_from_login off: a foreign From: goes through', async () => {
    const c = await login(relay);
    assert.match(await send(c, '<kai@example.com>', 'ceo@bank.example', 'unchecked'), /^250 2\.0\.0 /);
    c.end();
    const got = await sink.waitFor(2);
    assert.ok(got[1]?.raw.toString('latin1').includes('From: ceo@bank.example'));
  });
});
