// One answer per rule on the wire, whichever command comes first: before
// STARTTLS, submission answers AUTH, MAIL, RCPT, DATA and VRFY alike with
// "530 5.7.0 Must issue a STARTTLS command first" (RFC 3207 4), and mx
// answers AUTH so too; under TLS, submission answers MAIL, RCPT and DATA
// without AUTH with "530 5.7.0 Authentication required" (RFC 4954 6). The
// refusals count in limits.max_errors. Also the pure decision
// (src/smtp/command-gate.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay } from './harness.ts';
import { AUTH_FIRST, gateCommand, STARTTLS_FIRST } from '../../src/smtp/command-gate.ts';

const PASSWORD = 'Alice-pw-7f3c9';
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');
const STARTTLS_REPLY = '530 5.7.0 Must issue a STARTTLS command first';
const AUTH_REPLY = '530 5.7.0 Authentication required';

test('the gate, pure: what each listener refuses before TLS and before AUTH', () => {
  for (const cmd of ['AUTH', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'VRFY', 'EXPN', 'ETRN']) {
    assert.equal(gateCommand('submission', cmd, { secure: false, authenticated: false }), STARTTLS_FIRST, cmd);
  }
  for (const cmd of ['EHLO', 'HELO', 'STARTTLS', 'NOOP', 'RSET', 'QUIT', 'HELP', 'FOO']) {
    assert.equal(gateCommand('submission', cmd, { secure: false, authenticated: false }), null, cmd);
  }
  assert.equal(gateCommand('mx', 'AUTH', { secure: false, authenticated: false }), STARTTLS_FIRST);
  for (const cmd of ['MAIL', 'RCPT', 'DATA', 'VRFY']) assert.equal(gateCommand('mx', cmd, { secure: false, authenticated: false }), null, cmd);
  for (const cmd of ['MAIL', 'RCPT', 'DATA', 'BDAT']) {
    assert.equal(gateCommand('submission', cmd, { secure: true, authenticated: false }), AUTH_FIRST, cmd);
    assert.equal(gateCommand('submission', cmd, { secure: true, authenticated: true }), null, cmd);
    assert.equal(gateCommand('smtps', cmd, { secure: true, authenticated: false }), null, cmd);
  }
  assert.equal(gateCommand('submission', 'AUTH', { secure: true, authenticated: false }), null);
});

test('submission and mx on the wire: the same 530 for every command the rule covers', async (t) => {
  const { doc, ports } = await relayDoc({
    users: [{ name: 'alice', password: PASSWORD, groups: [] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['alice'] } },
    limits: { max_errors: 8 },
  });
  const relay = await startRelay(t, doc, ports);

  const open = async (port: number, src = '127.0.0.2') => {
    const c = await RawClient.connect(port, src);
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    return c;
  };

  await t.test('submission before STARTTLS: AUTH (with or without credentials), MAIL, RCPT, DATA, VRFY: 530 5.7.0 STARTTLS first', async () => {
    // From a relay host as well: TLS on submission is for everybody.
    for (const src of ['127.0.0.2', '127.0.0.1']) {
      const c = await open(ports.submission, src);
      for (const cmd of [`AUTH PLAIN ${plain('alice', PASSWORD)}`, 'AUTH LOGIN', 'MAIL FROM:<a@example.net>', 'RCPT TO:<b@example.org>', 'DATA', 'VRFY alice']) {
        assert.equal(await c.cmd(cmd), STARTTLS_REPLY, `${src}: ${cmd}`);
      }
      // What RFC 3207 leaves open still works, and STARTTLS goes on from there.
      assert.match((await c.cmd('NOOP')) ?? '', /^250 /);
      assert.match((await c.cmd('RSET')) ?? '', /^250 /);
      await c.starttls();
      assert.match((await c.cmd('EHLO client.example')) ?? '', /^250-AUTH PLAIN LOGIN\r?$/m);
      c.end();
    }
    // The password never reaches the log: only the verb.
    const lines = relay.logs.filter((l) => l.event === 'command.refused');
    assert.ok(lines.length >= 12);
    assert.ok(lines.every((l) => !JSON.stringify(l).includes(plain('alice', PASSWORD))));
    assert.equal(relay.logs.some((l) => l.event === 'auth'), false, 'no AUTH attempt was made before TLS');
  });

  await t.test('submission under TLS without AUTH: MAIL, RCPT, DATA: 530 5.7.0 Authentication required; after AUTH they work', async () => {
    const c = await open(ports.submission);
    await c.starttls();
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    for (const cmd of ['MAIL FROM:<a@example.net>', 'RCPT TO:<b@example.org>', 'DATA']) assert.equal(await c.cmd(cmd), AUTH_REPLY, cmd);
    assert.equal(await c.cmd(`AUTH PLAIN ${plain('alice', PASSWORD)}`), '235 2.7.0 Authentication successful');
    assert.match((await c.cmd('MAIL FROM:<alice@example.net>')) ?? '', /^250 2\.1\.0 /);
    assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250 2\.1\.5 /);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    assert.match((await c.cmd('Subject: ok\r\n\r\nok\r\n.')) ?? '', /^250 2\.0\.0 Ok: queued as /);
    c.end();
  });

  await t.test('mx before STARTTLS: AUTH gets the same 530 (not "500 not recognized"); mail itself needs no TLS', async () => {
    const c = await open(ports.mx, '127.0.0.1');
    assert.equal(await c.cmd(`AUTH PLAIN ${plain('alice', PASSWORD)}`), STARTTLS_REPLY);
    assert.equal(await c.cmd('AUTH LOGIN'), STARTTLS_REPLY);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<b@example.org>')) ?? '', /^250 /);
    c.end();
  });

  await t.test('these refusals count in limits.max_errors (8): the 8th gets 421 and the connection closes', async () => {
    const c = await open(ports.submission);
    for (let i = 1; i < 8; i++) assert.equal(await c.cmd('MAIL FROM:<a@example.net>'), STARTTLS_REPLY, `#${i}`);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^421 4\.7\.0 /);
    assert.ok(await c.closedByServer());
  });
});
