// End-to-end delivery routes: the real daemon (bin/mailwarden start) takes
// mail from a raw SMTP client and delivers it to programmable sinks (sink.ts)
// through a local domain's static route, a smarthost (STARTTLS, AUTH,
// tls: required) or MX lookup against a real dnsmasq (dns-server.ts); then
// byte-exactness of what arrives (dots, 8-bit, long lines folded) and
// connection reuse. Everything listens on 127.0.0.0/8 only; every wait is
// bounded and waits on an event (log line, sink message), never a sleep.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, queueEnvelopes, queuedId, RawClient, relayDoc, runCli, startRelay, type LogLine, type Relay } from '../smtp/harness.ts';
import { selfSignedCert, startSink, type Sink, type SinkOptions } from './sink.ts';
import { spooledMessage } from '../support/spool-files.ts';
import { dnsmasqMissing, startDns } from './dns-server.ts';

type T = { after(fn: () => unknown): void };

const noDns = dnsmasqMissing();

// ------------------------------------------------------------------ helpers

async function sink(t: T, opts: SinkOptions = {}): Promise<Sink> {
  const s = await startSink(opts);
  t.after(() => s.close());
  return s;
}

/** Sinks on several loopback addresses sharing one port (MX delivery goes to delivery.mx_port of every MX host). */
async function sinksOnOnePort(t: T, specs: SinkOptions[]): Promise<{ port: number; sinks: Sink[] }> {
  let last: unknown = null;
  for (let i = 0; i < 10; i++) {
    // The first binds port 0; the others take its port on their addresses, which another process may hold: retried.
    let port = 0;
    const started: Sink[] = [];
    try {
      for (const s of specs) {
        const sink = await startSink({ ...s, port });
        started.push(sink);
        port = sink.port;
      }
      for (const s of started) t.after(() => s.close());
      return { port, sinks: started };
    } catch (e) {
      last = e;
      await Promise.all(started.map((s) => s.close()));
      if (!/EADDRINUSE/.test(String(e))) throw e;
    }
  }
  throw new Error(`no port free on every sink address after 10 tries: ${String(last)}`);
}

/** Dot-stuffing as a client does it (RFC 5321 4.5.2); `data` ends with CRLF. */
function dotStuff(data: Buffer): Buffer {
  return Buffer.from(data.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
}

/** One transaction on the relay's mx listener; resolves with the queue id. */
async function submit(port: number, from: string, to: string[], data: Buffer, mailParams = ''): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
    assert.match((await c.cmd(`MAIL FROM:<${from}>${mailParams}`)) ?? '', /^250 /, 'MAIL FROM refused');
    for (const r of to) assert.match((await c.cmd(`RCPT TO:<${r}>`)) ?? '', /^250 /, `RCPT TO:<${r}> refused`);
    assert.match((await c.cmd('DATA')) ?? '', /^354 /);
    c.write(Buffer.concat([dotStuff(data), Buffer.from('.\r\n')]));
    const r = (await c.reply()) ?? '(closed)';
    await c.cmd('QUIT');
    return queuedId(r);
  } finally {
    c.end();
  }
}

function simple(from: string, to: string, subject: string): Buffer {
  return Buffer.from(`From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@client.example>\r\n\r\nhello from ${subject}\r\n`);
}

const deliveryOf = (relay: Relay, id: string, recipient: string): Promise<LogLine> =>
  relay.waitLog((l) => l.event === 'delivery' && l.id === id && l.recipient === recipient);

/** The first delivery attempt of `recipient` ended deferred: nothing delivered, nothing bounced, still queued. */
async function assertDeferred(relay: Relay, id: string, recipient: string, sinks: Sink[], why: string): Promise<LogLine> {
  const line = await deliveryOf(relay, id, recipient);
  assert.equal(line.status, 'deferred', `${why}: expected a deferral, got ${line.status} (${String(line.dsn)} ${String(line.response)})`);
  assert.match(String(line.dsn), /^4\./, `${why}: a deferral has a 4.x.x status, got ${String(line.dsn)}`);
  assert.ok(line.next_attempt, `${why}: a deferral has a next attempt`);
  assert.equal(relay.logs.find((l) => l.event === 'dsn.queued' && l.of === id), undefined, `${why}: no bounce may be queued`);
  assert.equal(relay.logs.find((l) => l.event === 'queue.removed' && l.id === id), undefined, `${why}: the message stays queued`);
  for (const s of sinks) assert.equal(s.messages.length, 0, `${why}: nothing may be delivered`);
  const env = (await queueEnvelopes(relay)).find((e) => e.id === id);
  assert.ok(env, `${why}: the message is still in the queue`);
  assert.equal(env.recipients.find((r) => r.address === recipient)?.status, 'deferred');
  return line;
}

// ------------------------------------------------------------------ 1. local domain routes

test('local route: a closed port on the first host fails over to the second', async (t) => {
  const second = await sink(t, { address: '127.0.0.12' });
  const dead = await freePort();
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.11:${dead}`, `127.0.0.12:${second.port}`] } }],
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s' },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(ports.mx, 'alice@example.net', ['bob@example.com'], simple('alice@example.net', 'bob@example.com', 'closed first host'));
  const [m] = await second.waitFor(1);
  assert.deepEqual(m?.to, ['bob@example.com']);
  assert.equal(m?.from, 'alice@example.net');
  const line = await deliveryOf(relay, id, 'bob@example.com');
  assert.equal(line.status, 'delivered');
  assert.equal(line.relay, `[127.0.0.12]:${second.port}`, 'the delivery log names the second host');
  assert.equal(line.code, 250);
  await relay.waitLog((l) => l.event === 'queue.removed' && l.id === id);
});

test('local route: a first host greeting 421 fails over to the second', async (t) => {
  const first = await sink(t, { address: '127.0.0.13', behaviour: { greeting: { code: 421, text: '4.3.2 busy, try later' } } });
  const second = await sink(t, { address: '127.0.0.14' });
  const { doc, ports } = await relayDoc({
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.13:${first.port}`, `127.0.0.14:${second.port}`] } }],
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s' },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(ports.mx, 'alice@example.net', ['carol@example.com'], simple('alice@example.net', 'carol@example.com', '421 first host'));
  const [m] = await second.waitFor(1);
  assert.deepEqual(m?.to, ['carol@example.com']);
  assert.equal(first.messages.length, 0);
  assert.ok(first.events.some((e) => e.command === 'CONNECT' && e.code === 421), 'the first host was tried first (and refused)');
  const line = await deliveryOf(relay, id, 'carol@example.com');
  assert.equal(line.status, 'delivered');
  assert.equal(line.relay, `[127.0.0.14]:${second.port}`, 'the delivery log names the second host');
});

// ------------------------------------------------------------------ 2. smarthost

async function certFile(t: T): Promise<{ key: string; cert: string; caPath: string }> {
  const pem = await selfSignedCert({ ip: ['127.0.0.1'] });
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const caPath = join(dir, 'smarthost-ca.pem');
  writeFileSync(caPath, pem.cert);
  return { ...pem, caPath };
}

const CREDS = { username: 'relayuser', password: 'relay-secret' };

test('smarthost: STARTTLS with a trusted certificate, then AUTH, carries the message', async (t) => {
  const pem = await certFile(t);
  const sh = await sink(t, { tls: { key: pem.key, cert: pem.cert }, auth: CREDS });
  const { doc, ports } = await relayDoc({
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s', smarthost: { host: '127.0.0.1', port: sh.port, ...CREDS, tls: 'required', ca: pem.caPath } },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(ports.mx, 'alice@example.net', ['dave@far-away.test'], simple('alice@example.net', 'dave@far-away.test', 'via smarthost'));
  const [m] = await sh.waitFor(1);
  assert.equal(m?.secure, true, 'the smarthost connection was upgraded with STARTTLS');
  assert.equal(m?.user, CREDS.username, 'the relay authenticated');
  assert.deepEqual(m?.to, ['dave@far-away.test']);
  const line = await deliveryOf(relay, id, 'dave@far-away.test');
  assert.equal(line.status, 'delivered');
  assert.equal(line.relay, `[127.0.0.1]:${sh.port}`);
});

test('smarthost, tls: required, next hop without STARTTLS: deferred, no credentials or mail in clear', async (t) => {
  const sh = await sink(t, { auth: CREDS });
  const { doc, ports } = await relayDoc({
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s', smarthost: { host: '127.0.0.1', port: sh.port, ...CREDS, tls: 'required' } },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(ports.mx, 'alice@example.net', ['erin@far-away.test'], simple('alice@example.net', 'erin@far-away.test', 'no starttls'));
  // The refusal of our STARTTLS is a problem of our TLS policy and the next
  // hop's setup, not of the mail: it must be retried, never bounced.
  await assertDeferred(relay, id, 'erin@far-away.test', [sh], 'tls: required and the smarthost offers no STARTTLS (a refused STARTTLS must not bounce the mail)');
  assert.ok(sh.events.some((e) => e.command === 'CONNECT'), 'the smarthost was contacted');
  assert.deepEqual(sh.events.filter((e) => e.command !== 'CONNECT'), [], 'no AUTH and no MAIL over a clear connection');
});

test('smarthost, tls: required, certificate not trusted (no ca): deferred', async (t) => {
  const pem = await selfSignedCert({ ip: ['127.0.0.1'] });
  const sh = await sink(t, { tls: pem, auth: CREDS });
  const { doc, ports } = await relayDoc({
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s', smarthost: { host: '127.0.0.1', port: sh.port, ...CREDS, tls: 'required' } },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(ports.mx, 'alice@example.net', ['frank@far-away.test'], simple('alice@example.net', 'frank@far-away.test', 'untrusted cert'));
  const line = await assertDeferred(relay, id, 'frank@far-away.test', [sh], 'an untrusted smarthost certificate');
  assert.match(String(line.response), /certificate/i, 'the reason is the certificate');
  assert.equal(line.dsn, '4.7.5', 'a certificate that fails our check is X.7.5 (RFC 3463), not a connection failure');
  // Node appends advice for whoever runs node; an administrator reads these lines.
  for (const l of relay.logs) assert.doesNotMatch(JSON.stringify(l), /use-system-ca|Node\.js/, `a log line with Node's hint: ${JSON.stringify(l)}`);
  assert.deepEqual(sh.events.filter((e) => e.command !== 'CONNECT'), [], 'no AUTH and no MAIL after a failed certificate check');
});

test('smarthost, tls: required, trusted certificate for another address: deferred', async (t) => {
  const other = await selfSignedCert({ ip: ['127.0.0.9'], dns: ['elsewhere.test'] });
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, other.cert);
  const sh = await sink(t, { tls: other, auth: CREDS });
  const { doc, ports } = await relayDoc({
    delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s', smarthost: { host: '127.0.0.1', port: sh.port, ...CREDS, tls: 'required', ca: caPath } },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(ports.mx, 'alice@example.net', ['fred@far-away.test'], simple('alice@example.net', 'fred@far-away.test', 'wrong name'));
  const line = await assertDeferred(relay, id, 'fred@far-away.test', [sh], 'a smarthost certificate for another address');
  assert.match(String(line.response), /does not match certificate/i, 'the reason is the certificate name');
  assert.equal(line.dsn, '4.7.5', 'a certificate for another name is X.7.5 too');
  assert.deepEqual(sh.events.filter((e) => e.command !== 'CONNECT'), [], 'no AUTH and no MAIL after a failed certificate check');
});

test('smarthost: a wrong password is deferred, never bounced', async (t) => {
  const pem = await certFile(t);
  const sh = await sink(t, { tls: { key: pem.key, cert: pem.cert }, auth: CREDS });
  const { doc, ports } = await relayDoc({
    delivery: {
      enabled: true,
      connect_timeout: '5s',
      reply_timeout: '10s',
      smarthost: { host: '127.0.0.1', port: sh.port, username: CREDS.username, password: 'wrong', tls: 'required', ca: pem.caPath },
    },
  });
  const relay = await startRelay(t, doc, ports);
  const id = await submit(ports.mx, 'alice@example.net', ['gina@far-away.test'], simple('alice@example.net', 'gina@far-away.test', 'wrong password'));
  const line = await assertDeferred(relay, id, 'gina@far-away.test', [sh], 'a refused AUTH');
  assert.match(String(line.response), /535/, 'the reason is the AUTH refusal');
  assert.ok(sh.events.some((e) => e.command === 'AUTH' && e.code === 535), 'the smarthost refused the credentials');
  assert.equal(sh.events.find((e) => e.command === 'MAIL'), undefined, 'no MAIL after a refused AUTH');
});

// ------------------------------------------------------------------ 3. MX lookup

const mxSkip = { skip: noDns || false };

/** A relay that delivers by MX through the dnsmasq `dnsServer`, with `sender.test` routed to `senderRoute` (for DSNs). */
async function mxRelay(t: T, dnsServer: string, mxPort: number, senderRoute?: string): Promise<Relay> {
  const { doc, ports } = await relayDoc({
    domains: senderRoute ? [{ name: 'sender.test', route: { hosts: [senderRoute] } }] : [],
    delivery: { enabled: true, mx_port: mxPort, connect_timeout: '5s', reply_timeout: '10s' },
    dns: { servers: [dnsServer] },
  });
  return startRelay(t, doc, ports);
}

test('MX: the preference-10 host greets 554, the preference-20 host takes the message', mxSkip, async (t) => {
  const { port, sinks } = await sinksOnOnePort(t, [
    { address: '127.0.0.31', behaviour: { greeting: { code: 554, text: '5.3.2 no SMTP service here' } } },
    { address: '127.0.0.32' },
  ]);
  const [mx1, mx2] = sinks as [Sink, Sink];
  const dns = await startDns(t, {
    // The less preferred host first in the zone, so that order of records is not what decides.
    mx: [
      { domain: 'two-mx.test', exchange: 'mx2.two-mx.test', preference: 20 },
      { domain: 'two-mx.test', exchange: 'mx1.two-mx.test', preference: 10 },
    ],
    a: [
      { name: 'mx1.two-mx.test', address: '127.0.0.31' },
      { name: 'mx2.two-mx.test', address: '127.0.0.32' },
    ],
  });
  const relay = await mxRelay(t, dns.server, port);
  const id = await submit(relay.ports.mx, 'alice@example.net', ['hank@two-mx.test'], simple('alice@example.net', 'hank@two-mx.test', 'mx 554'));
  const [m] = await mx2.waitFor(1);
  assert.deepEqual(m?.to, ['hank@two-mx.test']);
  assert.equal(mx1.messages.length, 0);
  assert.ok(mx1.events.some((e) => e.command === 'CONNECT' && e.code === 554), 'the preference-10 host was tried first');
  const line = await deliveryOf(relay, id, 'hank@two-mx.test');
  assert.equal(line.status, 'delivered');
  assert.equal(line.relay, `mx2.two-mx.test [127.0.0.32]:${port}`);
});

test('MX: the preference-10 host greets 421, the next one takes the message', mxSkip, async (t) => {
  const { port, sinks } = await sinksOnOnePort(t, [
    { address: '127.0.0.33', behaviour: { greeting: { code: 421, text: '4.7.0 too busy' } } },
    { address: '127.0.0.34' },
  ]);
  const [mx1, mx2] = sinks as [Sink, Sink];
  const dns = await startDns(t, {
    mx: [
      { domain: 'busy-mx.test', exchange: 'mx1.busy-mx.test', preference: 10 },
      { domain: 'busy-mx.test', exchange: 'mx2.busy-mx.test', preference: 20 },
    ],
    a: [
      { name: 'mx1.busy-mx.test', address: '127.0.0.33' },
      { name: 'mx2.busy-mx.test', address: '127.0.0.34' },
    ],
  });
  const relay = await mxRelay(t, dns.server, port);
  const id = await submit(relay.ports.mx, 'alice@example.net', ['ivy@busy-mx.test'], simple('alice@example.net', 'ivy@busy-mx.test', 'mx 421'));
  const [m] = await mx2.waitFor(1);
  assert.deepEqual(m?.to, ['ivy@busy-mx.test']);
  assert.ok(mx1.events.some((e) => e.command === 'CONNECT' && e.code === 421), 'the preference-10 host was tried first');
  const line = await deliveryOf(relay, id, 'ivy@busy-mx.test');
  assert.equal(line.status, 'delivered');
  assert.equal(line.relay, `mx2.busy-mx.test [127.0.0.34]:${port}`);
});

test('MX: no MX record but an A record: delivered to that address', mxSkip, async (t) => {
  const { port, sinks } = await sinksOnOnePort(t, [{ address: '127.0.0.35' }]);
  const [host] = sinks as [Sink];
  const dns = await startDns(t, { a: [{ name: 'a-only.test', address: '127.0.0.35' }] });
  const relay = await mxRelay(t, dns.server, port);
  const id = await submit(relay.ports.mx, 'alice@example.net', ['jack@a-only.test'], simple('alice@example.net', 'jack@a-only.test', 'a record'));
  const [m] = await host.waitFor(1);
  assert.deepEqual(m?.to, ['jack@a-only.test']);
  const line = await deliveryOf(relay, id, 'jack@a-only.test');
  assert.equal(line.status, 'delivered');
  assert.equal(line.relay, `a-only.test [127.0.0.35]:${port}`);
  assert.ok(dns.queries().some((q) => q.type === 'MX' && q.name === 'a-only.test'), 'the MX was asked first');
});

test('MX: a null MX (RFC 7505) fails the recipient with 5.1.10 and bounces to the sender', mxSkip, async (t) => {
  const { port, sinks } = await sinksOnOnePort(t, [{ address: '127.0.0.36' }]);
  const [senderHost] = sinks as [Sink];
  const dns = await startDns(t, { nullMx: ['null-mx.test'] });
  const relay = await mxRelay(t, dns.server, port, `127.0.0.36:${port}`);
  const id = await submit(relay.ports.mx, 'kim@sender.test', ['lee@null-mx.test'], simple('kim@sender.test', 'lee@null-mx.test', 'null mx'));
  const line = await deliveryOf(relay, id, 'lee@null-mx.test');
  assert.equal(line.status, 'failed');
  assert.equal(line.dsn, '5.1.10');
  const queued = await relay.waitLog((l) => l.event === 'dsn.queued' && l.of === id);
  assert.equal(queued.type, 'failure');
  assert.equal(queued.to, 'kim@sender.test');
  const [dsn] = await senderHost.waitFor(1);
  assert.ok(dsn);
  assert.equal(dsn.from, '', 'a DSN has the null reverse path');
  assert.deepEqual(dsn.to, ['kim@sender.test']);
  const text = dsn.raw.toString('utf8');
  assert.match(text, /^Content-Type: message\/delivery-status/m);
  assert.match(text, /^Final-Recipient: rfc822; lee@null-mx\.test\r$/m);
  assert.match(text, /^Action: failed\r$/m);
  assert.match(text, /^Status: 5\.1\.10\r$/m, 'the DSN names 5.1.10');
  assert.match(text, /^Subject: null mx\r$/m, 'the DSN carries the original headers');
});

test('MX: a domain that does not exist (NXDOMAIN) fails the recipient with 5.1.2', mxSkip, async (t) => {
  const { port, sinks } = await sinksOnOnePort(t, [{ address: '127.0.0.37' }]);
  const [senderHost] = sinks as [Sink];
  const dns = await startDns(t, { a: [{ name: 'exists.test', address: '127.0.0.37' }] });
  const relay = await mxRelay(t, dns.server, port, `127.0.0.37:${port}`);
  const id = await submit(relay.ports.mx, 'kim@sender.test', ['max@no-such-domain.test'], simple('kim@sender.test', 'max@no-such-domain.test', 'nxdomain'));
  const line = await deliveryOf(relay, id, 'max@no-such-domain.test');
  assert.equal(line.status, 'failed');
  assert.equal(line.dsn, '5.1.2');
  const [dsn] = await senderHost.waitFor(1);
  assert.match(dsn?.raw.toString('utf8') ?? '', /^Status: 5\.1\.2\r$/m);
});

// ------------------------------------------------------------------ 4. byte-exactness

/** What LineLimit's contract says leaves us: body lines cut every 998 octets with CRLF, header lines with CRLF + space. */
function folded(message: Buffer): Buffer {
  const lines = message.toString('latin1').split('\r\n');
  const out: string[] = [];
  let inHeaders = true;
  for (const line of lines.slice(0, -1)) {
    if (line === '') inHeaders = false;
    if (line.length <= 998) {
      out.push(line);
      continue;
    }
    if (!inHeaders) {
      for (let i = 0; i < line.length; i += 998) out.push(line.slice(i, i + 998));
      continue;
    }
    out.push(line.slice(0, 998));
    for (let i = 998; i < line.length; i += 997) out.push(' ' + line.slice(i, i + 997));
  }
  return Buffer.from(out.join('\r\n') + '\r\n', 'latin1');
}

/** Applies `extra` over the running relay's document as a new revision (the daemon notices it within ~5 s). */
async function applyRevision(relay: Relay, doc: Record<string, unknown>): Promise<void> {
  const file = join(relay.dataDir, 'revision-2.yaml');
  writeFileSync(file, stringify(doc));
  const r = await runCli(['config', 'import', file, '--data', relay.dataDir]);
  assert.equal(r.status, 0, `config import failed: ${r.stdout}${r.stderr}`);
  const started = Number((await relay.waitLog((l) => l.event === 'started')).revision);
  // The heartbeat reads the settings every 5 s: bounded by 10 s.
  await relay.waitLog((l) => l.event === 'config.active' && Number(l.revision) > started, 10_000);
}

test('byte-exact: dots, 8-bit UTF-8 and long lines arrive as accepted, long lines folded', async (t) => {
  const dest = await sink(t, { address: '127.0.0.41' });
  const base = {
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.41:${dest.port}`] } }],
  };
  const { doc, ports } = await relayDoc({ ...base, delivery: { enabled: false } });
  const relay = await startRelay(t, doc, ports);

  const longHeader = 'X-Long: ' + 'h'.repeat(1500 - 'X-Long: '.length);
  const header998 = 'X-Exact: ' + 'e'.repeat(998 - 'X-Exact: '.length);
  // 5,000 octets, with a dot where each fold starts a new line.
  const longBody = Array.from({ length: 5000 }, (_, i) => (i % 998 === 0 && i > 0 ? '.' : String.fromCharCode(97 + (i % 26)))).join('');
  const body998 = 'b'.repeat(998);
  const body999 = 'c'.repeat(999);
  const message = Buffer.concat([
    Buffer.from(
      [
        'From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.net>',
        'To: <nina@example.com>',
        'Subject: byte exact',
        longHeader,
        header998,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        '',
      ].join('\r\n'),
      'latin1',
    ),
    Buffer.from(['.', '..', '.foo', '...three', 'Grüße aus Köln — ✓ 日本語 🙂', ' .space-dot', longBody, body998, body999, '.', 'end'].join('\r\n') + '\r\n', 'utf8'),
  ]);
  assert.equal(Buffer.from(longHeader).length, 1500);
  assert.equal(Buffer.from(longBody).length, 5000);

  const id = await submit(ports.mx, 'joerg@example.net', ['nina@example.com'], message, ' BODY=8BITMIME');

  // What was accepted: the spooled file is our Received header + what the client sent.
  const spooled = spooledMessage(relay.dataDir, id);
  assert.ok(spooled.subarray(spooled.length - message.length).equals(message), 'the spool holds the message as sent');
  const received = spooled.subarray(0, spooled.length - message.length).toString('utf8');
  assert.match(received, /^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example [^\r\n]*\r\n(\t[^\r\n]*\r\n)+$/);
  assert.ok(received.includes(` id ${id}`), 'our Received header names the queue id');

  await applyRevision(relay, { ...doc, ...base, delivery: { enabled: true, connect_timeout: '5s', reply_timeout: '10s' } });
  const [m] = await dest.waitFor(1, 15_000);
  assert.ok(m);
  assert.equal(m.params.BODY, '8BITMIME', 'sent onwards with BODY=8BITMIME');

  const expected = folded(spooled);
  assert.equal(expected.length - spooled.length, 2 * 5 + 3 + 2, 'the expectation folds: 5 body CRLFs in the 5,000-octet line, CRLF+SP once in the 1,500-octet header, one CRLF in the 999-octet line');
  assert.ok(
    m.raw.equals(expected),
    `the sink got something else than the accepted message (folded):\n--- got (${m.raw.length})\n${JSON.stringify(m.raw.toString('latin1').slice(0, 600))}\n--- expected (${expected.length})\n${JSON.stringify(expected.toString('latin1').slice(0, 600))}`,
  );
  // And the general properties, whatever the expectation above says.
  const text = m.raw.toString('latin1');
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(text), 'no bare CR or LF');
  const lines = text.split('\r\n');
  const longest = Math.max(...lines.map((l) => l.length));
  assert.ok(longest <= 998, `no line over 998 octets (longest: ${longest})`);
  assert.ok(text.startsWith(received), 'our Received header comes first, unchanged');
  assert.ok(m.raw.toString('utf8').includes('\r\nGrüße aus Köln — ✓ 日本語 🙂\r\n'), '8-bit text intact');
  const line = await deliveryOf(relay, id, 'nina@example.com');
  assert.equal(line.status, 'delivered');
});

// ------------------------------------------------------------------ 5. connection reuse

test('connection reuse: three queued messages for one destination share one connection', async (t) => {
  const dest = await sink(t, { address: '127.0.0.51' });
  const base = { domains: [{ name: 'example.com', route: { hosts: [`127.0.0.51:${dest.port}`] } }] };
  const { doc, ports } = await relayDoc({ ...base, delivery: { enabled: false } });
  const relay = await startRelay(t, doc, ports);
  const ids: string[] = [];
  for (const n of [1, 2, 3]) ids.push(await submit(ports.mx, 'alice@example.net', [`user${n}@example.com`], simple('alice@example.net', `user${n}@example.com`, `reuse ${n}`)));
  assert.equal((await queueEnvelopes(relay)).length, 3, 'three messages wait while delivery is off');
  assert.equal(dest.connections, 0, 'nothing is delivered while delivery is off');

  await applyRevision(relay, { ...doc, ...base, delivery: { enabled: true, max_connections_per_destination: 1, connect_timeout: '5s', reply_timeout: '10s' } });
  const got = await dest.waitFor(3, 15_000);
  assert.deepEqual(got.map((m) => m.to[0]).sort(), ['user1@example.com', 'user2@example.com', 'user3@example.com']);
  assert.equal(dest.connections, 1, `three messages over one connection (connections: ${dest.connections})`);
  assert.deepEqual(got.map((m) => m.connection), [1, 1, 1]);
  for (const id of ids) await relay.waitLog((l) => l.event === 'queue.removed' && l.id === id);
});
