// Recipient verification end to end: the real daemon, real SMTP clients
// (swaks, raw sockets) and, for callout, a real internal server (the sink)
// that refuses unknown recipients. list mode: an unknown recipient 550 5.1.1
// at RCPT, before DATA, a listed one queued. callout: known accepted, unknown
// 550 5.1.1 without naming the internal host, answers cached (the sink sees a
// second RCPT for neither a known nor an unknown address), a 4xx not cached,
// the internal server stopped: 451 and nothing queued. Relay hosts and
// authenticated users are verified the same way; refusals count toward
// max_errors; `policy explain` shows both modes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { RawClient, queueEnvelopes, relayDoc, runCli, startRelay, swaks, swaksMissing, tempDataDir } from './harness.ts';
import { startSink } from '../delivery/sink.ts';

const skip = swaksMissing();

const PASSWORD = 'Alice-pw-7f3c9';
const KNOWN = new Set(['alice@call.example', 'bob@call.example', 'carol@call.example']);
const DIRECT = '127.0.0.5';
const OK = '250 2.1.5 Accepted';
const UNKNOWN = '550 5.1.1 Recipient address rejected: User unknown';

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

async function greeted(port: number, local: string, tls = false): Promise<RawClient> {
  const c = tls ? await RawClient.connectTls(port, local) : await RawClient.connect(port, local);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[- ]/);
  return c;
}

test('recipient verification on the wire', { skip }, async (t) => {
  const sink = await startSink({
    address: '127.0.0.71',
    behaviour: { rcpt: (to) => (to === 'full@call.example' ? { code: 452, text: '4.2.2 mailbox full' } : KNOWN.has(to.toLowerCase()) ? undefined : { code: 550, text: '5.1.1 no such user' }) },
  });
  let sinkOpen = true;
  t.after(() => (sinkOpen ? sink.close() : undefined));
  const sinkRcpts = (to: string) => sink.events.filter((e) => e.command === 'RCPT' && e.arg === to).length;

  const { doc, ports } = await relayDoc({
    users: [{ name: 'alice', password: PASSWORD, groups: [] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['alice'] } },
    domains: [
      { name: 'list.example', route: { hosts: ['10.9.9.9:25'] }, verify_recipients: 'list', recipients: ['alice', 'Bob@List.Example'] },
      { name: 'call.example', route: { hosts: [`${sink.address}:${sink.port}`] }, verify_recipients: 'callout', callout: { timeout: '3s', cache_positive: '1h', cache_negative: '1h' } },
      { name: 'open.example', route: { hosts: ['10.9.9.9:25'] } },
    ],
    limits: { max_errors: 3 },
  });
  const relay = await startRelay(t, doc, ports);

  await t.test('list: swaks to an unknown recipient is refused 550 5.1.1 at RCPT, before DATA; nothing queued', async () => {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(ports.mx), '--local-interface', DIRECT, '--ehlo', 'client.example', '--from', 'someone@sender.example', '--to', 'carol@list.example']);
    assert.notEqual(r.status, 0);
    assert.match(r.out, /<\*\* 550 5\.1\.1 Recipient address rejected: User unknown/);
    assert.doesNotMatch(r.out, /~> DATA/, 'swaks never got to DATA');
    assert.deepEqual(await queueEnvelopes(relay), []);
    const line = await relay.waitLog((l) => l.event === 'rcpt' && l.recipient === 'carol@list.example');
    assert.equal(line.code, 550);
    assert.equal(line.rule, 'domains.verify_recipients');
  });

  await t.test('list: a listed recipient (any case) is queued; of two recipients only the listed one is', async () => {
    const c = await greeted(ports.mx, DIRECT);
    assert.match((await c.cmd('MAIL FROM:<someone@sender.example>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<BOB@list.example>'), OK);
    assert.equal(await c.cmd('RCPT TO:<dave@list.example>'), UNKNOWN);
    assert.equal(await c.cmd('RCPT TO:<postmaster@list.example>'), OK, 'postmaster@ is never verified');
    assert.equal(await c.cmd('RCPT TO:<anyone@open.example>'), OK, 'a domain without verification');
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    assert.match((await c.cmd('Subject: hi\r\n\r\nhello\r\n.')) ?? '', /^250 2\.0\.0 Ok: queued as /);
    c.end();
    const q = await queueEnvelopes(relay);
    assert.equal(q.length, 1);
    assert.deepEqual(q[0]?.recipients.map((r) => r.address), ['BOB@list.example', 'postmaster@list.example', 'anyone@open.example']);
  });

  await t.test('callout: known accepted, unknown 550 5.1.1, the reply never names the internal server', async () => {
    const c = await greeted(ports.mx, DIRECT);
    assert.match((await c.cmd('MAIL FROM:<someone@sender.example>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<alice@call.example>'), OK);
    const unknown = (await c.cmd('RCPT TO:<nobody@call.example>')) ?? '';
    assert.equal(unknown, UNKNOWN);
    assert.doesNotMatch(unknown, new RegExp(`127\\.0\\.0\\.71|${sink.port}|sink`));
    c.end();
    assert.equal(sinkRcpts('alice@call.example'), 1);
    assert.equal(sinkRcpts('nobody@call.example'), 1);
    assert.equal(sink.events.filter((e) => e.command === 'DATA').length, 0, 'a probe never sends DATA');
    const line = await relay.waitLog((l) => l.event === 'rcpt' && l.recipient === 'nobody@call.example');
    assert.match(JSON.stringify(line), /127\.0\.0\.71/, 'the log names the host, the reply does not');
  });

  await t.test('callout cache: a second RCPT for the same unknown or known address does not reach the internal server', async () => {
    const before = sink.connections;
    const c = await greeted(ports.mx, DIRECT);
    assert.match((await c.cmd('MAIL FROM:<other@sender.example>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<nobody@call.example>'), UNKNOWN);
    assert.equal(await c.cmd('RCPT TO:<alice@call.example>'), OK);
    c.end();
    assert.equal(sinkRcpts('nobody@call.example'), 1);
    assert.equal(sinkRcpts('alice@call.example'), 1);
    assert.equal(sink.connections, before, 'no probe connection at all');
  });

  await t.test('callout: a 4xx from the internal server is 450 4.1.1 and is not cached', async () => {
    const c = await greeted(ports.mx, DIRECT);
    assert.match((await c.cmd('MAIL FROM:<someone@sender.example>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<full@call.example>'), '450 4.1.1 Recipient address rejected: unverified address, please try again later');
    assert.equal(await c.cmd('RCPT TO:<full@call.example>'), '450 4.1.1 Recipient address rejected: unverified address, please try again later');
    c.end();
    assert.equal(sinkRcpts('full@call.example'), 2);
  });

  await t.test('relay hosts and authenticated users are verified the same way', async () => {
    const r = await greeted(ports.mx, '127.0.0.1');
    assert.match((await r.cmd('MAIL FROM:<app@inside.example>')) ?? '', /^250 /);
    assert.equal(await r.cmd('RCPT TO:<someone@elsewhere.example>'), OK, 'the relay host still relays');
    assert.equal(await r.cmd('RCPT TO:<ghost@list.example>'), UNKNOWN);
    assert.equal(await r.cmd('RCPT TO:<ghost@call.example>'), UNKNOWN);
    r.end();
    const a = await greeted(ports.smtps, DIRECT, true);
    assert.equal(await a.cmd(`AUTH PLAIN ${plain('alice', PASSWORD)}`), '235 2.7.0 Authentication successful');
    assert.match((await a.cmd('MAIL FROM:<alice@list.example>')) ?? '', /^250 /);
    assert.equal(await a.cmd('RCPT TO:<phantom@list.example>'), UNKNOWN);
    assert.equal(await a.cmd('RCPT TO:<phantom@call.example>'), UNKNOWN);
    assert.equal(await a.cmd('RCPT TO:<bob@call.example>'), OK);
    a.end();
    assert.equal(sinkRcpts('ghost@call.example'), 1);
    assert.equal(sinkRcpts('phantom@call.example'), 1);
  });

  await t.test('unknown recipients count toward max_errors (3): the third ends the session with 421', async () => {
    const c = await greeted(ports.mx, DIRECT);
    assert.match((await c.cmd('MAIL FROM:<someone@sender.example>')) ?? '', /^250 /);
    assert.equal(await c.cmd('RCPT TO:<x1@list.example>'), UNKNOWN);
    assert.equal(await c.cmd('RCPT TO:<x2@list.example>'), UNKNOWN);
    assert.match((await c.cmd('RCPT TO:<x3@list.example>')) ?? '', /^421 4\.7\.0 /);
    assert.ok(await c.closedByServer());
  });

  await t.test('policy explain: the list mode offline and the callout online, with the refusal and its trail', async () => {
    const dir = tempDataDir(t);
    const file = join(dir, 'settings.yaml');
    writeFileSync(file, stringify(doc));
    const list = await runCli(['policy', 'explain', '--config', file, '--client', '203.0.113.9', '--to', 'nobody@list.example']);
    assert.equal(list.status, 1, list.stderr);
    assert.match(list.stdout, /^reject: 550 5\.1\.1 Recipient address rejected: User unknown/);
    assert.match(list.stdout, /recipient-list: list: nobody@list\.example: not in the domain's recipients list/);
    const api = await runCli(['policy', 'explain', '--config', file, '--client', '203.0.113.9', '--to', 'carol@call.example', '--json']);
    assert.equal(api.status, 0, api.stderr);
    assert.deepEqual((JSON.parse(api.stdout) as { checks: Record<string, unknown> }).checks.recipient_verify, { mode: 'callout', answer: 'exists', cached: false });
    assert.equal(sinkRcpts('carol@call.example'), 1, 'policy explain asked the internal server itself');
  });

  await t.test('the internal server stopped: a new address gets 451 4.4.3 and nothing is queued; cached answers still hold', async () => {
    await sink.close();
    sinkOpen = false;
    const queued = (await queueEnvelopes(relay)).length;
    const c = await greeted(ports.mx, DIRECT);
    assert.match((await c.cmd('MAIL FROM:<someone@sender.example>')) ?? '', /^250 /);
    const down = (await c.cmd('RCPT TO:<newcomer@call.example>')) ?? '';
    assert.equal(down, '451 4.4.3 Recipient address verification is temporarily unavailable, please try again later');
    assert.doesNotMatch(down, new RegExp(`127\\.0\\.0\\.71|${sink.port}`));
    assert.match((await c.cmd('DATA')) ?? '', /^5\d\d /, 'no recipient: no DATA');
    c.end();
    assert.equal((await queueEnvelopes(relay)).length, queued);
    const d = await greeted(ports.mx, DIRECT);
    assert.match((await d.cmd('MAIL FROM:<someone@sender.example>')) ?? '', /^250 /);
    assert.equal(await d.cmd('RCPT TO:<alice@call.example>'), OK, 'a positive answer from the cache');
    assert.equal(await d.cmd('RCPT TO:<nobody@call.example>'), UNKNOWN, 'a negative answer from the cache');
    d.end();
  });
});
