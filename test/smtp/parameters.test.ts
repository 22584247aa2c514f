// MAIL FROM / RCPT TO parameters on the wire against the real daemon: what
// our EHLO announces is accepted, anything else (an unknown keyword, a second
// path after the first, REQUIRETLS that we never announce, AUTH= where AUTH
// is not offered) is answered 555 5.5.4 as RFC 5321 4.1.1.11 asks, logged,
// and counted in limits.max_errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, relayDoc, startRelay, type Relay } from './harness.ts';

async function greeted(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  return c;
}

function lastLog(relay: Relay, event: string): Record<string, unknown> | undefined {
  return relay.logs.filter((l) => l.event === event).at(-1);
}

test('unsupported MAIL and RCPT parameters: 555 5.5.4, counted, logged', async (t) => {
  const { doc, ports } = await relayDoc({ limits: { max_errors: 4 } });
  const relay = await startRelay(t, doc, ports);

  await t.test('every MAIL parameter of an announced extension is accepted', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc+2Bd')) ?? '', /^250 2\.1\.0 /);
    assert.match((await c.cmd('RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.org')) ?? '', /^250 2\.1\.5 /);
    c.end();
  });

  await t.test('an unknown MAIL keyword', async () => {
    const c = await greeted(ports.mx);
    assert.equal(await c.cmd('MAIL FROM:<a@example.net> FOO=BAR'), '555 5.5.4 Unsupported option: FOO=BAR');
    assert.equal(await c.cmd('MAIL FROM:<a@example.net> SIZE=10 xyzzy'), '555 5.5.4 Unsupported option: xyzzy');
    // The session goes on: a correct MAIL after it is taken.
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 2\.1\.0 /);
    await relay.waitLog((l) => l.event === 'mail' && l.action === 'reject' && l.code === 555);
    const log = lastLog(relay, 'mail');
    assert.ok(relay.logs.some((l) => l.event === 'mail' && l.action === 'reject' && l.code === 555 && JSON.stringify(l.trail).includes('FOO=BAR')));
    assert.ok(log);
    c.end();
  });

  await t.test('REQUIRETLS is never announced, so it is refused like any unknown keyword (with or without TLS)', async () => {
    const c = await greeted(ports.mx);
    assert.equal(await c.cmd('MAIL FROM:<a@example.net> REQUIRETLS'), '555 5.5.4 Unsupported option: REQUIRETLS');
    await c.starttls();
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
    assert.equal(await c.cmd('MAIL FROM:<a@example.net> REQUIRETLS'), '555 5.5.4 Unsupported option: REQUIRETLS');
    c.end();
  });

  await t.test('AUTH= where AUTH is not offered (mx before STARTTLS) is refused; after STARTTLS, where AUTH is offered, taken', async () => {
    const c = await greeted(ports.mx);
    assert.equal(await c.cmd('MAIL FROM:<a@example.net> AUTH=<>'), '555 5.5.4 Unsupported option: AUTH=<>');
    await c.starttls();
    const ehlo = (await c.cmd('EHLO client.example')) ?? '';
    assert.match(ehlo, /^250-AUTH PLAIN LOGIN\r?$/m);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> AUTH=<>')) ?? '', /^250 2\.1\.0 /);
    c.end();
  });

  await t.test('a second path after the recipient ("NOTIFY=NEVER <victim@...>") and unknown RCPT keywords', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<x@example.org> NOTIFY=NEVER <victim@evil.example>'), '555 5.5.4 Unsupported option: <victim@evil.example>');
    assert.equal(await c.cmd('RCPT TO:<x@example.org> FOO=BAR'), '555 5.5.4 Unsupported option: FOO=BAR');
    // SIZE belongs to MAIL, not RCPT.
    assert.equal(await c.cmd('RCPT TO:<x@example.org> SIZE=10'), '555 5.5.4 Unsupported option: SIZE=10');
    await relay.waitLogs((l) => l.event === 'rcpt' && l.code === 555, 3);
    const refusals = relay.logs.filter((l) => l.event === 'rcpt' && l.code === 555);
    assert.equal(refusals.length, 3);
    assert.equal(refusals[0]?.recipient, 'x@example.org');
    assert.equal(refusals[0]?.action, 'reject');
    assert.equal(relay.logs.some((l) => l.event === 'rcpt' && l.action === 'accept' && l.recipient === 'x@example.org'), false);
    // No recipient was taken: DATA has none.
    assert.match((await c.cmd('DATA')) ?? '', /^503 /);
    c.end();
  });

  await t.test('control characters in an unsupported parameter are not echoed', async () => {
    const c = await greeted(ports.mx);
    assert.equal(await c.cmd('MAIL FROM:<a@example.net> X\x1b[31m=1'), '555 5.5.4 Unsupported option: X?[31m=1');
    c.end();
  });

  await t.test('555s count towards limits.max_errors (4): the 4th gets 421 and the connection closes', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> FOO=1')) ?? '', /^555 /);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> FOO=2')) ?? '', /^555 /);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    assert.match((await c.cmd('RCPT TO:<b@example.org> BAR=3')) ?? '', /^555 /);
    assert.match((await c.cmd('RCPT TO:<b@example.org> BAR=4')) ?? '', /^421 4\.7\.0 /);
    assert.ok(await c.closedByServer());
  });

  await t.test('a refused MAIL leaves none of its parameters behind: the next MAIL without SMTPUTF8 is plain', async () => {
    const c = await greeted(ports.mx);
    assert.match((await c.cmd('MAIL FROM:<a@example.net> SMTPUTF8 BODY=8BITMIME FOO=1')) ?? '', /^555 /);
    assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
    // Without SMTPUTF8 in force, a non-ASCII recipient needs it.
    c.write(Buffer.from('RCPT TO:<ü@example.org>\r\n', 'utf8'));
    assert.match((await c.reply()) ?? '', /^553 5\.6\.7 /);
    c.end();
  });
});
