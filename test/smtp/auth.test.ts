// AUTH on the wire: where it is offered (only under TLS), PLAIN and LOGIN on
// submission (STARTTLS) and smtps (implicit TLS), every 535 case, the
// failed-login throttle (growing delays, 421 4.7.0 at the limit, later
// attempts from that address refused at once while others still log in), and
// the Received header of an authenticated message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay, swaks, swaksMissing, type Relay, runCli as run, queuedId, queueEnvelopes as envelopes } from './harness.ts';

const skip = swaksMissing();

const PASSWORDS: Record<string, string> = { alice: 'Alice-pw-7f3c9', bob: 'Bob-pw-1e8d2', carol: 'Carol-pw-55aa1', dave: 'Dave-pw-90b7e' };
const DELAY_MS = 250;
const MAX_FAILURES = 3;

function settings() {
  return {
    groups: [{ name: 'staff' }, { name: 'other' }],
    users: [
      { name: 'alice', password: PASSWORDS.alice, groups: [] },
      { name: 'bob', password: PASSWORDS.bob, groups: ['staff'] },
      { name: 'carol', password: PASSWORDS.carol, groups: ['other'] },
      { name: 'dave', password: PASSWORDS.dave, groups: ['staff'], enabled: false },
    ],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: {
      allowed_hosts: ['localhost'],
      authenticated_relay: { enabled: true, users: ['alice', 'dave'], groups: ['staff'] },
    },
    limits: { auth_failure_delay: `${DELAY_MS}ms`, max_auth_failures: MAX_FAILURES, auth_failure_window: '10m' },
  };
}

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Greeting + EHLO (+ STARTTLS + EHLO); returns the last EHLO reply. */
async function session(port: number, src: string, mode: 'plain' | 'starttls' | 'implicit'): Promise<{ c: RawClient; ehlo: string }> {
  const c = mode === 'implicit' ? await RawClient.connectTls(port, src) : await RawClient.connect(port, src);
  assert.match((await c.reply()) ?? '', /^220 mx\.test\.example /);
  let ehlo = (await c.cmd('EHLO client.example')) ?? '';
  assert.match(ehlo, /^250[- ]/);
  if (mode === 'starttls') {
    await c.starttls();
    ehlo = (await c.cmd('EHLO client.example')) ?? '';
    assert.match(ehlo, /^250[- ]/);
  }
  return { c, ehlo };
}

/** `queue show ID`: the envelope, a blank line, then the message file. */
async function show(relay: Relay, id: string): Promise<string> {
  const r = await run(['queue', 'show', id, '--data', relay.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const AUTH_LINE = /^250[- ]AUTH PLAIN LOGIN$/m;

test('AUTH on the wire', { skip }, async (t) => {
  const { doc, ports } = await relayDoc(settings());
  const relay = await startRelay(t, doc, ports);
  const authenticated: { id: string; user: string; listener: string }[] = [];

  await t.test('mx: AUTH is neither offered nor accepted before STARTTLS, and works after it', async () => {
    const { c, ehlo } = await session(ports.mx, '127.0.0.3', 'plain');
    assert.match(ehlo, /^250-STARTTLS$/m);
    assert.doesNotMatch(ehlo, /AUTH/);
    const early = (await c.cmd(`AUTH PLAIN ${plain('alice', PASSWORDS.alice ?? '')}`)) ?? '';
    assert.match(early, /^5\d\d /, 'a good password before TLS is still refused');
    assert.match((await c.cmd('AUTH LOGIN')) ?? '', /^5\d\d /);
    await c.starttls();
    const after = (await c.cmd('EHLO client.example')) ?? '';
    assert.match(after, AUTH_LINE);
    assert.doesNotMatch(after, /STARTTLS/);
    assert.equal(await c.cmd(`AUTH PLAIN ${plain('alice', PASSWORDS.alice ?? '')}`), '235 2.7.0 Authentication successful');
    assert.match((await c.cmd('MAIL FROM:<alice@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<someone@example.org>')) ?? '', /^250 2\.1\.5/);
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    const id = queuedId((await c.cmd('Subject: mx auth\r\n\r\nhi\r\n.')) ?? '');
    authenticated.push({ id, user: 'alice', listener: 'mx' });
    await c.cmd('QUIT');
    c.end();
    // The early attempt was not a login attempt: no auth log line before the successful one.
    const lines = relay.logs.filter((l) => l.event === 'auth' && l.client === '127.0.0.3');
    assert.deepEqual(lines.map((l) => l.action), ['accept']);
  });

  await t.test('smtps offers AUTH at once; submission offers it only after STARTTLS', async () => {
    const s = await session(ports.smtps, '127.0.0.3', 'implicit');
    assert.match(s.ehlo, AUTH_LINE);
    assert.doesNotMatch(s.ehlo, /STARTTLS/);
    s.c.end();
    const sub = await session(ports.submission, '127.0.0.3', 'plain');
    assert.doesNotMatch(sub.ehlo, /AUTH/);
    assert.match(sub.ehlo, /^250-STARTTLS$/m);
    sub.c.end();
  });

  await t.test('submission: MAIL without AUTH gets 530 5.7.0, before and after STARTTLS, even from a relay host', async () => {
    for (const [src, mode] of [['127.0.0.3', 'plain'], ['127.0.0.3', 'starttls'], ['127.0.0.1', 'starttls']] as const) {
      const { c } = await session(ports.submission, src, mode);
      assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^530 5\.7\.0 /, `${src} ${mode}`);
      assert.match((await c.cmd('RCPT TO:<info@example.com>')) ?? '', /^5\d\d /, `${src} ${mode}: no RCPT without a MAIL`);
      c.end();
    }
  });

  await t.test('PLAIN and LOGIN succeed on submission (STARTTLS) and smtps (swaks); the spool names the user', async () => {
    const cases = [
      { port: ports.submission, tls: '--tls', method: 'PLAIN', user: 'alice', listener: 'submission' },
      { port: ports.submission, tls: '--tls', method: 'LOGIN', user: 'bob', listener: 'submission' },
      { port: ports.smtps, tls: '--tls-on-connect', method: 'PLAIN', user: 'bob', listener: 'smtps' },
      { port: ports.smtps, tls: '--tls-on-connect', method: 'LOGIN', user: 'alice', listener: 'smtps' },
    ];
    for (const k of cases) {
      const r = await swaks(['--server', '127.0.0.1', '--port', String(k.port), '--local-interface', '127.0.0.4', k.tls, '--ehlo', 'client.example', '--auth', k.method, '--auth-user', k.user, '--auth-password', PASSWORDS[k.user] ?? '', '--from', `${k.user}@example.net`, '--to', 'someone@example.org']);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /<~ +235 2\.7\.0 Authentication successful/);
      authenticated.push({ id: queuedId(r.out), user: k.user, listener: k.listener });
    }
    // LOGIN by hand on smtps: the two prompts, then success.
    const { c } = await session(ports.smtps, '127.0.0.4', 'implicit');
    assert.equal(await c.cmd('AUTH LOGIN'), `334 ${b64('Username:')}`);
    assert.equal(await c.cmd(b64('bob')), `334 ${b64('Password:')}`);
    assert.equal(await c.cmd(b64(PASSWORDS.bob ?? '')), '235 2.7.0 Authentication successful');
    assert.match((await c.cmd('AUTH PLAIN ' + plain('alice', PASSWORDS.alice ?? ''))) ?? '', /^503 /, 'no second AUTH in one session');
    c.end();

    const all = await envelopes(relay);
    for (const a of authenticated) {
      const e = all.find((m) => m.id === a.id);
      assert.ok(e, a.id);
      assert.deepEqual([e.client.user, e.client.listener, e.client.tls, e.relayed, e.recipients[0]?.kind, e.recipients[0]?.rule], [a.user, a.listener, true, true, 'relay', 'rule 4']);
    }
  });

  await t.test('535 5.7.8, the same words, for: not named in authenticated relay, disabled, unknown, wrong password', async () => {
    const cases = [
      { src: '127.0.1.1', user: 'carol', pass: PASSWORDS.carol ?? '' },
      { src: '127.0.1.2', user: 'dave', pass: PASSWORDS.dave ?? '' },
      { src: '127.0.1.3', user: 'nobody', pass: 'Nobody-pw-1' },
      { src: '127.0.1.4', user: 'alice', pass: 'not-alice-password' },
    ];
    for (const k of cases) {
      const { c } = await session(ports.submission, k.src, 'starttls');
      assert.equal(await c.cmd(`AUTH PLAIN ${plain(k.user, k.pass)}`), '535 5.7.8 Authentication credentials invalid', `${k.user} (PLAIN)`);
      // Still not authenticated.
      assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^530 5\.7\.0 /, k.user);
      c.end();
    }
    // LOGIN gives the same answer.
    const { c } = await session(ports.smtps, '127.0.1.6', 'implicit');
    await c.cmd('AUTH LOGIN');
    await c.cmd(b64('carol'));
    assert.equal(await c.cmd(b64(PASSWORDS.carol ?? '')), '535 5.7.8 Authentication credentials invalid');
    c.end();
    // The log comes over stdout, the replies over TCP: wait for the last line rather than race it.
    const isReject = (l: { event: string; action?: unknown; client?: unknown }) => l.event === 'auth' && l.action === 'reject' && String(l.client).startsWith('127.0.1.');
    await relay.waitLog((l) => isReject(l) && relay.logs.filter(isReject).length >= cases.length + 1).catch(() => null);
    const rejects = relay.logs.filter(isReject);
    assert.equal(rejects.length, cases.length + 1);
  });

  await t.test(`throttle: growing delays, failure #${MAX_FAILURES} closes with 421 4.7.0, the address stays blocked, others may log in`, async () => {
    const BAD = '127.0.2.1';
    const { c } = await session(ports.smtps, BAD, 'implicit');
    const times: number[] = [];
    const replies: (string | null)[] = [];
    for (let i = 1; i <= MAX_FAILURES; i++) {
      const t0 = performance.now();
      replies.push(await c.cmd(`AUTH PLAIN ${plain('alice', `guess-${i}`)}`));
      times.push(performance.now() - t0);
    }
    assert.deepEqual(replies.slice(0, -1), Array(MAX_FAILURES - 1).fill('535 5.7.8 Authentication credentials invalid'));
    assert.match(replies.at(-1) ?? '', /^421 4\.7\.0 /);
    assert.equal(await c.closedByServer(), true, 'closed after the last failure');
    for (let i = 0; i < times.length; i++) assert.ok((times[i] ?? 0) >= DELAY_MS * (i + 1) - 5, `failure ${i + 1} waited ${times[i]} ms, want >= ${DELAY_MS * (i + 1)}`);
    // (The lower bounds above grow with each failure; a check on the differences
    // failed under load, where one scrypt check can take longer than DELAY_MS.)

    // A new connection from the same address: 421 at AUTH, at once, even with the right password.
    const again = await session(ports.submission, BAD, 'starttls');
    const t1 = performance.now();
    assert.match((await again.c.cmd(`AUTH PLAIN ${plain('alice', PASSWORDS.alice ?? '')}`)) ?? '', /^421 4\.7\.0 /);
    assert.ok(performance.now() - t1 < DELAY_MS, 'refused without the failure delay');
    assert.equal(await again.c.closedByServer(), true);
    await relay.waitLog((l) => l.event === 'auth.blocked' && l.client === BAD);
    assert.equal(relay.logs.some((l) => l.event === 'auth' && l.action === 'accept' && l.client === BAD), false);

    // Another address still logs in.
    const other = await session(ports.smtps, '127.0.2.2', 'implicit');
    assert.equal(await other.c.cmd(`AUTH PLAIN ${plain('alice', PASSWORDS.alice ?? '')}`), '235 2.7.0 Authentication successful');
    other.c.end();
  });

  await t.test('throttle: a successful login in between does not wipe the failures counted in the window', async () => {
    // docs/configuration.md: max_auth_failures counts "failed AUTH attempts from one client address
    // within auth_failure_window". An attacker holding one valid account must not be able to reset
    // the count by logging in with it between guesses at another user's password.
    const SRC = '127.0.2.5';
    const guesser = await session(ports.smtps, SRC, 'implicit');
    const replies: (string | null)[] = [];
    for (let i = 1; i < MAX_FAILURES; i++) replies.push(await guesser.c.cmd(`AUTH PLAIN ${plain('bob', `guess-${i}`)}`));
    const own = await session(ports.smtps, SRC, 'implicit');
    assert.equal(await own.c.cmd(`AUTH PLAIN ${plain('alice', PASSWORDS.alice ?? '')}`), '235 2.7.0 Authentication successful');
    own.c.end();
    replies.push(await guesser.c.cmd(`AUTH PLAIN ${plain('bob', `guess-${MAX_FAILURES}`)}`));
    guesser.c.end();
    assert.deepEqual(
      replies.map((r) => (r ?? '(closed)').slice(0, 9)),
      [...Array<string>(MAX_FAILURES - 1).fill('535 5.7.8'), '421 4.7.0'],
      `failure ${MAX_FAILURES} from ${SRC} within the window must close the connection`,
    );
  });

  await t.test('the Received header says ESMTPSA for an authenticated message and never holds the password', async () => {
    assert.ok(authenticated.length >= 5);
    const shown = await Promise.all(authenticated.map((a) => show(relay, a.id)));
    for (const [i, a] of authenticated.entries()) {
      const text = shown[i] ?? '';
      const message = text.slice(text.indexOf('\n\n') + 2);
      const received = /^Received: [^\n]*\n(?:\t[^\n]*\n)*/.exec(message)?.[0] ?? '';
      assert.match(received, new RegExp(`\\(mailwarden, listener ${a.listener}\\) with ESMTPSA id ${a.id} \\(TLS`), received);
      assert.match(received, /\(authenticated sender\)/);
      for (const secret of Object.values(PASSWORDS)) {
        assert.equal(text.includes(secret), false, `${a.id} holds a password`);
        assert.equal(text.includes(b64(secret)), false, `${a.id} holds a base64 password`);
      }
    }
    // Control: a message over TLS without AUTH is ESMTPS.
    const { c } = await session(ports.mx, '127.0.0.3', 'starttls');
    await c.cmd('MAIL FROM:<a@example.net>');
    await c.cmd('RCPT TO:<info@example.com>');
    await c.cmd('DATA');
    const id = queuedId((await c.cmd('Subject: no auth\r\n\r\nhi\r\n.')) ?? '');
    c.end();
    const text = await show(relay, id);
    assert.match(text, new RegExp(`with ESMTPS id ${id} \\(TLS`));
    assert.doesNotMatch(text, /ESMTPSA|authenticated sender/);
    // Nor do the logs hold any password or AUTH token.
    const logText = JSON.stringify(relay.logs) + relay.stderr();
    for (const [user, secret] of Object.entries(PASSWORDS)) {
      assert.equal(logText.includes(secret), false, `log holds ${user}'s password`);
      assert.equal(logText.includes(plain(user, secret)), false, `log holds ${user}'s AUTH token`);
    }
  });
});
