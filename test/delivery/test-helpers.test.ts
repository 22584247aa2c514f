// Self-tests of the delivery test helpers: the programmable SMTP sink
// (sink.ts) with real clients (nodemailer, raw sockets), and the real DNS
// server (dns-server.ts, dnsmasq) with node's own resolver. Everything listens
// on 127.0.0.1 only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import nodemailer from 'nodemailer';
import { RawClient } from '../smtp/harness.ts';
import { selfSignedCert, startSink, type Sink, type SinkOptions } from './sink.ts';
import { dnsmasqMissing, startDns } from './dns-server.ts';

async function sink(t: { after(fn: () => unknown): void }, opts: SinkOptions = {}): Promise<Sink> {
  const s = await startSink(opts);
  t.after(() => s.close());
  return s;
}

interface SendResult {
  ok: boolean;
  response: string;
  responseCode?: number | undefined;
  accepted: string[];
  rejected: string[];
  rejectedErrors: { recipient?: string; responseCode?: number; response?: string }[];
  code?: string | undefined;
}

/** Sends through nodemailer; never rejects. */
async function send(
  s: Sink,
  mail: Record<string, unknown>,
  transportOpts: Record<string, unknown> = {},
): Promise<SendResult> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: s.port,
    secure: false,
    ignoreTLS: true,
    name: 'client.test',
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 5000,
    ...transportOpts,
  });
  try {
    const info = await transport.sendMail(mail);
    return {
      ok: true,
      response: info.response,
      accepted: (info.accepted as unknown[]).map(String),
      rejected: (info.rejected as unknown[]).map(String),
      rejectedErrors: (info as unknown as { rejectedErrors?: SendResult['rejectedErrors'] }).rejectedErrors ?? [],
    };
  } catch (err) {
    const e = err as { code?: string; responseCode?: number; response?: string; rejectedErrors?: SendResult['rejectedErrors'] };
    return { ok: false, response: e.response ?? String(err), responseCode: e.responseCode, code: e.code, accepted: [], rejected: [], rejectedErrors: e.rejectedErrors ?? [] };
  } finally {
    transport.close();
  }
}

// CRLF line ends, 8-bit UTF-8, a line that starts with a dot and one that is two dots.
const RAW = Buffer.from(
  'From: Sender <sender@example.net>\r\nTo: a@example.test\r\nSubject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
    'Grüße aus Köln — ✓\r\n.leading dot\r\n..\r\n.\tdot tab\r\nlast line\r\n',
  'utf8',
);

test('sink: a nodemailer message arrives byte for byte, with its envelope', async (t) => {
  const s = await sink(t);
  const r = await send(s, { envelope: { from: 'sender@example.net', to: ['a@example.test', 'b@example.test'], use8BitMime: true, size: RAW.length }, raw: RAW });
  assert.ok(r.ok, r.response);
  assert.deepEqual(r.accepted, ['a@example.test', 'b@example.test']);
  const [m] = await s.waitFor(1);
  assert.ok(m);
  assert.ok(m.raw.equals(RAW), `raw differs:\n${JSON.stringify(m.raw.toString('utf8'))}\n${JSON.stringify(RAW.toString('utf8'))}`);
  assert.equal(m.from, 'sender@example.net');
  assert.deepEqual(m.to, ['a@example.test', 'b@example.test']);
  assert.equal(m.client, '127.0.0.1');
  assert.equal(m.ehlo, 'client.test');
  assert.equal(m.secure, false);
  assert.equal(m.user, null);
  assert.equal(m.params.BODY, '8BITMIME');
  assert.equal(m.params.SIZE, String(RAW.length));
  assert.equal(m.dsn, null);
  assert.equal(m.connection, 1);
  assert.equal(s.connections, 1);
  assert.match(r.response, /^250 Ok: queued as sink-1$/);
  assert.deepEqual(
    s.events.map((e) => [e.command, e.arg, e.code]),
    [
      ['CONNECT', '127.0.0.1', 220],
      ['MAIL', 'sender@example.net', 250],
      ['RCPT', 'a@example.test', 250],
      ['RCPT', 'b@example.test', 250],
      ['DATA', '', 250],
    ],
  );
});

test('sink: EHLO offers PIPELINING, 8BITMIME, SMTPUTF8, SIZE; SMTPUTF8 addresses and the null sender go through', async (t) => {
  const s = await sink(t);
  const c = await RawClient.connect(s.port);
  t.after(() => c.end());
  assert.match((await c.reply()) ?? '', /^220 sink\.test\.example ESMTP/);
  const ehlo = (await c.cmd('EHLO client.test')) ?? '';
  for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'SIZE 52428800']) assert.match(ehlo, new RegExp(`^250[- ]${ext}\\r?$`, 'm'), ehlo);
  for (const ext of ['STARTTLS', 'AUTH', 'DSN', 'ENHANCEDSTATUSCODES']) assert.doesNotMatch(ehlo, new RegExp(`^250[- ]${ext}`, 'm'), ehlo);
  // Pipelined: MAIL, RCPT and DATA in one write; UTF-8 bytes on the wire.
  c.write(Buffer.from('MAIL FROM:<jörg@bücher.test> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<δοκιμή@example.test>\r\nDATA\r\n', 'utf8'));
  assert.equal(await c.reply(), '250 Accepted');
  assert.equal(await c.reply(), '250 Accepted');
  assert.match((await c.reply()) ?? '', /^354 /);
  c.write(Buffer.from('Subject: x\r\n\r\nü\r\n.\r\n', 'utf8')); // (cmd() writes latin1)
  assert.match((await c.reply()) ?? '', /^250 /);
  assert.match((await c.cmd('MAIL FROM:<>')) ?? '', /^250 /);
  assert.match((await c.cmd('RCPT TO:<postmaster@example.test>')) ?? '', /^250 /);
  assert.match((await c.cmd('DATA')) ?? '', /^354 /);
  assert.match((await c.cmd('Subject: bounce\r\n\r\n.')) ?? '', /^250 /);
  const [m1, m2] = await s.waitFor(2);
  assert.equal(m1?.from, 'jörg@bücher.test');
  assert.deepEqual(m1?.to, ['δοκιμή@example.test']);
  assert.deepEqual(m1?.params, { SMTPUTF8: true, BODY: '8BITMIME' });
  assert.equal(m1?.raw.toString('utf8'), 'Subject: x\r\n\r\nü\r\n');
  assert.equal(m2?.from, '');
  assert.deepEqual(m2?.params, {});
});

test('sink: per-recipient 4xx/5xx replies reach the client', async (t) => {
  const s = await sink(t, {
    behaviour: {
      rcpt: (to) => (to.startsWith('temp') ? { code: 451, text: '4.2.0 try again later' } : to.startsWith('bad') ? { code: 550, text: '5.1.1 no such user' } : undefined),
    },
  });
  const r = await send(s, { envelope: { from: 's@example.net', to: ['ok@example.test', 'temp@example.test', 'bad@example.test'] }, raw: 'Subject: x\r\n\r\nhi\r\n' });
  assert.ok(r.ok, r.response);
  assert.deepEqual(r.accepted, ['ok@example.test']);
  assert.deepEqual(r.rejected.sort(), ['bad@example.test', 'temp@example.test']);
  assert.deepEqual(
    r.rejectedErrors.map((e) => [e.recipient, e.responseCode, e.response]).sort(),
    [
      ['bad@example.test', 550, '550 5.1.1 no such user'],
      ['temp@example.test', 451, '451 4.2.0 try again later'],
    ],
  );
  const [m] = await s.waitFor(1);
  assert.deepEqual(m?.to, ['ok@example.test']);
  assert.deepEqual(
    s.events.filter((e) => e.command === 'RCPT').map((e) => [e.arg, e.code]),
    [
      ['ok@example.test', 250],
      ['temp@example.test', 451],
      ['bad@example.test', 550],
    ],
  );

  // The exact reply lines on the wire, and MAIL FROM refused.
  s.setBehaviour({ mailFrom: (from) => (from === 'spam@example.net' ? { code: 553, text: '5.7.1 sender refused' } : undefined), rcpt: () => ({ code: 452, text: '4.5.3 too many recipients' }) });
  const c = await RawClient.connect(s.port);
  t.after(() => c.end());
  await c.reply();
  await c.cmd('EHLO client.test');
  assert.equal(await c.cmd('MAIL FROM:<spam@example.net>'), '553 5.7.1 sender refused');
  assert.equal(await c.cmd('MAIL FROM:<s@example.net>'), '250 Accepted');
  assert.equal(await c.cmd('RCPT TO:<x@example.test>'), '452 4.5.3 too many recipients');
});

test('sink: end of DATA answers as told; rejected messages are not recorded', async (t) => {
  let n = 0;
  const s = await sink(t, { behaviour: { data: () => (++n === 1 ? { code: 554, text: '5.6.0 content rejected' } : n === 2 ? { code: 421, text: '4.3.2 shutting down' } : { code: 250, text: '2.0.0 Ok: queued as ABC123' }) } });
  const r1 = await send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: 1\r\n\r\nx\r\n' });
  assert.equal(r1.ok, false);
  assert.equal(r1.responseCode, 554);
  assert.equal(r1.response, '554 5.6.0 content rejected');
  const r2 = await send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: 2\r\n\r\nx\r\n' });
  assert.equal(r2.responseCode, 421);
  const r3 = await send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: 3\r\n\r\nx\r\n' });
  assert.ok(r3.ok, r3.response);
  assert.equal(r3.response, '250 2.0.0 Ok: queued as ABC123');
  const [m] = await s.waitFor(1);
  assert.equal(s.messages.length, 1);
  assert.match(m?.raw.toString() ?? '', /^Subject: 3/);
  assert.equal(m?.connection, 3);
  assert.deepEqual(
    s.events.filter((e) => e.command === 'DATA').map((e) => e.code),
    [554, 421, 250],
  );
});

test('sink: greeting 554 refuses and closes', async (t) => {
  const s = await sink(t, { behaviour: { greeting: { code: 554, text: '5.3.2 no service here' } } });
  const c = await RawClient.connect(s.port);
  t.after(() => c.end());
  assert.equal(await c.reply(), '554 5.3.2 no service here');
  assert.equal(await c.closedByServer(5000), true);
  const r = await send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: x\r\n\r\nx\r\n' });
  assert.equal(r.ok, false);
  assert.equal(r.responseCode, 554);
  assert.equal(s.connections, 2);
  assert.deepEqual(
    s.events.map((e) => [e.command, e.code]),
    [
      ['CONNECT', 554],
      ['CONNECT', 554],
    ],
  );
});

test('sink: drop closes the connection without a reply (greeting, RCPT, end of DATA)', async (t) => {
  const s = await sink(t, { behaviour: { greeting: 'drop' } });
  const g = await RawClient.connect(s.port);
  t.after(() => g.end());
  assert.equal(await g.reply(5000), null);

  s.setBehaviour({ rcpt: (to) => (to === 'drop@example.test' ? 'drop' : undefined) });
  const r = await RawClient.connect(s.port);
  t.after(() => r.end());
  await r.reply();
  await r.cmd('EHLO client.test');
  await r.cmd('MAIL FROM:<s@example.net>');
  assert.equal(await r.cmd('RCPT TO:<ok@example.test>'), '250 Accepted');
  assert.equal(await r.cmd('RCPT TO:<drop@example.test>'), null);

  s.setBehaviour({ data: () => 'drop' });
  const d = await RawClient.connect(s.port);
  t.after(() => d.end());
  await d.reply();
  await d.cmd('EHLO client.test');
  await d.cmd('MAIL FROM:<s@example.net>');
  await d.cmd('RCPT TO:<a@example.test>');
  assert.match((await d.cmd('DATA')) ?? '', /^354 /);
  assert.equal(await d.cmd('Subject: x\r\n\r\nx\r\n.'), null);

  const n = await send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: x\r\n\r\nx\r\n' });
  assert.equal(n.ok, false);
  assert.equal(s.messages.length, 0);
  assert.equal(s.connections, 4);
  assert.deepEqual(
    s.events.filter((e) => e.code === 'drop').map((e) => [e.connection, e.command]),
    [
      [1, 'CONNECT'],
      [2, 'RCPT'],
      [3, 'DATA'],
      [4, 'DATA'],
    ],
  );
});

test('sink: STARTTLS with a self-signed certificate for 127.0.0.1 and a name, then AUTH', async (t) => {
  const tls = await selfSignedCert({ dns: ['mx.sink.test'], ip: ['127.0.0.1'] });
  const auth = { username: 'alice', password: 's3cret' };
  const s = await sink(t, { tls, auth });
  const raw = { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: tls\r\n\r\nx\r\n' };

  // Verified against the certificate, by IP address and by name (SNI).
  const byIp = await send(s, raw, { ignoreTLS: false, requireTLS: true, tls: { ca: tls.cert }, auth: { user: 'alice', pass: 's3cret' } });
  assert.ok(byIp.ok, byIp.response);
  const byName = await send(s, raw, { ignoreTLS: false, requireTLS: true, tls: { ca: tls.cert, servername: 'mx.sink.test' }, auth: { user: 'alice', pass: 's3cret', method: 'LOGIN' } });
  assert.ok(byName.ok, byName.response);
  const [m] = await s.waitFor(2);
  assert.equal(m?.secure, true);
  assert.equal(m?.user, 'alice');

  // An untrusted certificate or a wrong name fails verification.
  const untrusted = await send(s, raw, { ignoreTLS: false, requireTLS: true, auth: { user: 'alice', pass: 's3cret' } });
  assert.equal(untrusted.ok, false);
  assert.match(untrusted.response, /self[- ]signed/i);
  const wrongName = await send(s, raw, { ignoreTLS: false, requireTLS: true, tls: { ca: tls.cert, servername: 'other.test' }, auth: { user: 'alice', pass: 's3cret' } });
  assert.equal(wrongName.ok, false);
  assert.match(wrongName.response, /altnames|does not match/i);

  // A wrong password, AUTH before STARTTLS, MAIL without AUTH.
  const wrong = await send(s, raw, { ignoreTLS: false, requireTLS: true, tls: { ca: tls.cert }, auth: { user: 'alice', pass: 'nope' } });
  assert.equal(wrong.responseCode, 535);
  const c = await RawClient.connect(s.port);
  t.after(() => c.end());
  await c.reply();
  const ehlo = (await c.cmd('EHLO client.test')) ?? '';
  assert.match(ehlo, /^250[- ]STARTTLS\r?$/m);
  assert.match(ehlo, /^250[- ]AUTH PLAIN LOGIN\r?$/m);
  assert.match((await c.cmd(`AUTH PLAIN ${Buffer.from('\0alice\0s3cret').toString('base64')}`)) ?? '', /^538 /);
  assert.match((await c.cmd('MAIL FROM:<s@example.net>')) ?? '', /^530 /);
  await c.starttls();
  assert.doesNotMatch((await c.cmd('EHLO client.test')) ?? '', /STARTTLS/);
  assert.match((await c.cmd(`AUTH PLAIN ${Buffer.from('\0alice\0s3cret').toString('base64')}`)) ?? '', /^235 /);
  assert.match((await c.cmd('MAIL FROM:<s@example.net>')) ?? '', /^250 /);
  assert.equal(s.messages.length, 2);
});

test('sink: implicit TLS (smtps)', async (t) => {
  const tls = await selfSignedCert({ ip: ['127.0.0.1'] });
  const s = await sink(t, { tls, implicitTls: true });
  const r = await send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: smtps\r\n\r\nx\r\n' }, { secure: true, tls: { ca: tls.cert } });
  assert.ok(r.ok, r.response);
  const [m] = await s.waitFor(1);
  assert.equal(m?.secure, true);
  assert.equal(m?.user, null);
});

test('sink: DSN parameters are advertised and recorded with dsn: true', async (t) => {
  const s = await sink(t, { dsn: true });
  const r = await send(s, {
    envelope: { from: 's@example.net', to: ['a@example.test', 'b@example.test'] },
    raw: 'Subject: dsn\r\n\r\nx\r\n',
    dsn: { ret: 'HDRS', envid: 'env-42', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;orig@example.test' },
  });
  assert.ok(r.ok, r.response);
  const [m] = await s.waitFor(1);
  assert.equal(m?.params.RET, 'HDRS');
  assert.equal(m?.params.ENVID, 'env-42');
  assert.deepEqual(m?.dsn, { ret: 'HDRS', envid: 'env-42' });
  assert.deepEqual(m?.rcpts, [
    { address: 'a@example.test', params: { NOTIFY: 'FAILURE,DELAY', ORCPT: 'rfc822;orig@example.test' }, notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;orig@example.test' },
    { address: 'b@example.test', params: { NOTIFY: 'FAILURE,DELAY', ORCPT: 'rfc822;orig@example.test' }, notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;orig@example.test' },
  ]);

  const c = await RawClient.connect(s.port);
  t.after(() => c.end());
  await c.reply();
  assert.match((await c.cmd('EHLO client.test')) ?? '', /^250[- ]DSN\r?$/m);
  assert.equal(await c.cmd('MAIL FROM:<s@example.net> RET=FULL ENVID=QQ+2Bx'), '250 Accepted');
  assert.equal(await c.cmd('RCPT TO:<a@example.test> NOTIFY=NEVER'), '250 Accepted');
  assert.match((await c.cmd('RCPT TO:<b@example.test> NOTIFY=BOGUS')) ?? '', /^501 /);
});

test('sink: waitFor is event-driven and bounded', async (t) => {
  const s = await sink(t);
  await assert.rejects(s.waitFor(1, 50), /0 of 1 messages after 50 ms/);
  const waiting = s.waitFor(1);
  const r = await send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: x\r\n\r\nx\r\n' });
  assert.ok(r.ok);
  assert.equal((await waiting).length, 1);
  // Behaviours may answer later (a promise), e.g. to hold a reply.
  let release!: () => void;
  let entered!: () => void;
  const held = new Promise<void>((done) => (release = done));
  const inData = new Promise<void>((done) => (entered = done));
  s.setBehaviour({
    data: async () => {
      entered();
      await held;
      return { code: 250, text: 'late' };
    },
  });
  const late = send(s, { envelope: { from: 's@example.net', to: ['a@example.test'] }, raw: 'Subject: y\r\n\r\ny\r\n' });
  await inData;
  assert.equal(s.messages.length, 1, 'not recorded before the reply');
  release();
  assert.equal((await late).response, '250 late');
  assert.equal(s.messages.length, 2);
});

// ---- DNS ----

const skipDns = dnsmasqMissing();

const LONG_TXT = `v=DKIM1; k=rsa; p=${'A'.repeat(600)}`;

test('dns: dnsmasq serves MX, null MX, A and AAAA; missing names fail fast', { skip: skipDns }, async (t) => {
  const dns = await startDns(t, {
    mx: [
      { domain: 'example.test', exchange: 'mx1.example.test', preference: 10 },
      { domain: 'example.test', exchange: 'mx2.example.test', preference: 20 },
    ],
    nullMx: ['null.test'],
    a: [
      { name: 'mx1.example.test', address: '127.0.0.1' },
      { name: 'mx2.example.test', address: '127.0.0.2' },
      { name: 'bare.test', address: '127.0.0.3' },
    ],
    aaaa: [{ name: 'mx1.example.test', address: '::1' }],
    txt: [
      { name: 'example.test', text: 'v=spf1 -all' },
      { name: 'sel._domainkey.example.test', text: LONG_TXT },
    ],
  });
  assert.match(dns.server, /^127\.0\.0\.1:\d+$/);
  const r = new Resolver({ timeout: 500, tries: 1 });
  r.setServers([dns.server]);

  const mx = await r.resolveMx('example.test');
  assert.deepEqual(
    mx.sort((a, b) => a.priority - b.priority).map(({ exchange, priority }) => ({ exchange, priority })),
    [
      { exchange: 'mx1.example.test', priority: 10 },
      { exchange: 'mx2.example.test', priority: 20 },
    ],
  );
  // RFC 7505 null MX: node renders the root exchange "." as ''. Node 24 adds type: 'MX'.
  assert.deepEqual(await r.resolveMx('null.test'), [{ exchange: '', priority: 0, type: 'MX' }]);
  assert.deepEqual(await r.resolve4('mx1.example.test'), ['127.0.0.1']);
  assert.deepEqual(await r.resolve4('mx2.example.test'), ['127.0.0.2']);
  assert.deepEqual(await r.resolve6('mx1.example.test'), ['::1']);
  assert.deepEqual(await r.resolve4('bare.test'), ['127.0.0.3']);
  assert.deepEqual(await r.resolveTxt('example.test'), [['v=spf1 -all']]);
  // Longer than one TXT string may be (a DKIM key): split in strings of 255, joined back whole.
  const long = await r.resolveTxt('sel._domainkey.example.test');
  assert.deepEqual(long.map((x) => x.map((p) => p.length)), [[255, 255, LONG_TXT.length - 510]]);
  assert.equal(long[0]?.join(''), LONG_TXT);
  assert.deepEqual(await r.resolve4('MX1.Example.TEST'), ['127.0.0.1']);

  // Answered at once: NXDOMAIN (ENOTFOUND) for unknown names inside and outside the
  // test names, NODATA (ENODATA) for a known name without that type.
  const fails: [string, () => Promise<unknown>, string][] = [
    ['unknown name in a test domain', () => r.resolve4('nope.example.test'), 'ENOTFOUND'],
    ['unknown MX in a test domain', () => r.resolveMx('sub.example.test'), 'ENOTFOUND'],
    ['name outside the test names', () => r.resolve4('nothing.invalid'), 'ENOTFOUND'],
    ['MX outside the test names', () => r.resolveMx('example.com'), 'ENOTFOUND'],
    ['no MX, only A', () => r.resolveMx('bare.test'), 'ENODATA'],
    ['no AAAA, only A', () => r.resolve6('mx2.example.test'), 'ENODATA'],
    ['null MX domain has no A', () => r.resolve4('null.test'), 'ENODATA'],
    ['MX domain has no A', () => r.resolve4('example.test'), 'ENODATA'],
  ];
  for (const [what, q, code] of fails) {
    const t0 = performance.now();
    await assert.rejects(q(), (e: NodeJS.ErrnoException) => e.code === code, what);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `${what}: took ${ms.toFixed(0)} ms`);
  }

  // TCP answers too (a DNS-over-TCP MX query, RFC 1035 4.2.2).
  const q = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\x07example\x04test\x00', 'latin1'), Buffer.from([0, 15, 0, 1])]);
  const answer = await new Promise<Buffer>((done, fail) => {
    const sock = connect({ host: '127.0.0.1', port: dns.port });
    const timer = setTimeout(() => (sock.destroy(), fail(new Error('no TCP answer in 2 s'))), 2000);
    let buf = Buffer.alloc(0);
    sock.on('error', fail);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) sock.end();
    });
    // dnsmasq answers TCP in a forked child, which exits when we close: wait for
    // its side to close too, so that it is most likely gone (and reaped by dnsmasq)
    // before dnsmasq is stopped (see dns-server.ts on TCP children).
    sock.on('close', () => {
      clearTimeout(timer);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      else fail(new Error('TCP connection closed before a whole answer'));
    });
    sock.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]));
  });
  assert.equal(answer.readUInt16BE(0), 0x1234);
  assert.equal(answer[3]! & 0x0f, 0, 'RCODE NOERROR');
  assert.equal(answer.readUInt16BE(6), 2, 'two MX answers');

  assert.ok(dns.queries().some((x) => x.type === 'MX' && x.name === 'example.test'), dns.log());
  assert.ok(!dns.queries().some((x) => x.name.includes('mailwarden-dns-helper')));

  await dns.stop();
  await assert.rejects(r.resolve4('mx1.example.test'));
});

test('dns: bad records are refused before dnsmasq starts', { skip: skipDns }, async () => {
  await assert.rejects(startDns(null, { a: [{ name: 'x.test', address: '::1' }] }), /not an IPv4 address/);
  await assert.rejects(startDns(null, { mx: [{ domain: 'a,b.test', exchange: 'mx.test', preference: 1 }] }), /bad DNS name/);
});
