// PROXY protocol v2 on the wire, against the real daemon: a binary header
// from a trusted proxy makes its address the client for every rule (relay
// right, blacklist, spool, Received), also when it arrives a byte at a time
// or with TLVs; a bad header from a trusted proxy closes the connection with
// one log line and no crash; from an untrusted peer the same bytes are SMTP.
// Health checks (a TCP connect and close, a reset, a LOCAL header and close,
// LOCAL with HELO and QUIT as HAProxy's smtpchk does) leave no log line and
// no trace in /api/stats; a LOCAL connection that goes on to send mail is
// served, and logged, as the proxy itself.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { encodeV2 } from '../../src/smtp/proxy-header.ts';
import type { Envelope } from '../../src/queue/envelope.ts';
import { RawClient, runCli as run, queuedId, type Relay, type LogLine } from './harness.ts';
import { startWithApi, type Caller } from '../api/client.ts';

const PROXY = '127.0.0.4'; // trusted by host object
const UNTRUSTED = '127.0.0.3';

const v4 = (s: string) => Buffer.from(s.split('.').map(Number));
const v6 = (groups: number[]) => {
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
};
const tcp4 = (src: string, tlvs?: Buffer) => encodeV2({ local: false, family: 4, source: v4(src), destination: v4('127.0.0.1'), sourcePort: 40000, destinationPort: 25 }, tlvs);
const tcp6 = (src: number[]) => encodeV2({ local: false, family: 6, source: v6(src), destination: v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), sourcePort: 40000, destinationPort: 25 });
const LOCAL = encodeV2({ local: true });

async function envelope(relay: Relay, id: string): Promise<Envelope> {
  const r = await run(['queue', 'list', '--json', '--data', relay.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  const e = (JSON.parse(r.stdout) as Envelope[]).find((m) => m.id === id);
  assert.ok(e, `message ${id} is in the spool`);
  return e;
}

/** Connects from `src`, sends `header`, returns the client and the greeting. */
async function viaProxy(port: number, header: Buffer, src = PROXY): Promise<{ c: RawClient; greeting: string | null }> {
  const c = await RawClient.connect(port, src);
  c.write(header);
  return { c, greeting: await c.reply() };
}

async function probe(c: RawClient, to: string): Promise<{ ehlo: string; rcpt: string }> {
  const ehlo = (await c.cmd('EHLO client.example')) ?? '';
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
  return { ehlo, rcpt: (await c.cmd(`RCPT TO:<${to}>`)) ?? '' };
}

async function data(c: RawClient): Promise<string> {
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  const id = queuedId((await c.cmd('Subject: proxied v2\r\n\r\nhi\r\n.')) ?? '');
  await c.cmd('QUIT');
  c.end();
  return id;
}

/** A connection from the proxy that sends `bytes` (maybe none) and closes, or resets; resolves once it is closed. */
function touch(port: number, bytes: Buffer | null, how: 'end' | 'reset'): Promise<void> {
  return new Promise((done, fail) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: PROXY });
    let got = '';
    s.on('error', () => {});
    s.on('data', (d) => (got += d.toString('latin1')));
    s.once('connect', () => {
      if (bytes) s.write(bytes);
      if (how === 'reset') s.resetAndDestroy();
      else s.end();
    });
    s.once('close', () => done());
    setTimeout(() => fail(new Error(`touch ${how} ${bytes?.length ?? 'no'} bytes: not closed, got ${JSON.stringify(got)}`)), 10_000).unref();
  });
}

const mentionsProxy = (l: LogLine) => JSON.stringify(l).includes(`"${PROXY}"`);

test('PROXY protocol v2', async (t) => {
  const { relay, api, password } = await startWithApi(t, {
    listeners: [
      { name: 'mx', address: '127.0.0.1', port: 0, mode: 'mx', trusted_proxies: ['proxy'] },
      { name: 'submission', address: '127.0.0.1', port: 0, mode: 'submission' },
      { name: 'smtps', address: '127.0.0.1', port: 0, mode: 'smtps', trusted_proxies: ['proxy'] },
    ],
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'proxy', type: 'host', address: PROXY },
      { name: 'office', type: 'network', address: '10.1.0.0/16' },
      { name: 'office6', type: 'network', address: '2001:db8:1::/48' },
      { name: 'bad', type: 'host', address: '10.66.0.1' },
    ],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: { allowed_hosts: ['localhost', 'office', 'office6'], blacklist: ['bad'] },
  });
  const port = relay.ports.mx;
  const admin: Caller = await api.login('admin', password);
  assert.equal((admin as Caller & { answer: { status: number } }).answer.status, 200);

  await t.test('TCP4: the header\'s client gets the relay right and is the client in log, spool and Received', async () => {
    const { c, greeting } = await viaProxy(port, tcp4('10.1.2.3'));
    assert.match(greeting ?? '', /^220 mx\.test\.example /);
    const { ehlo, rcpt } = await probe(c, 'someone@example.org');
    assert.match(ehlo, /\[10\.1\.2\.3\]/);
    assert.match(rcpt, /^250 2\.1\.5/);
    const id = await data(c);
    const e = await envelope(relay, id);
    assert.deepEqual([e.client.address, e.relayed, e.recipients[0]?.kind], ['10.1.2.3', true, 'relay']);
    const line = await relay.waitLog((l) => l.event === 'connect' && l.client === '10.1.2.3');
    assert.equal(line.action, 'accept');
    assert.equal(line.proxy, undefined);
  });

  await t.test('TCP6: the IPv6 client (relay network) relays; a stranger does not', async () => {
    const { c, greeting } = await viaProxy(port, tcp6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x25]));
    assert.match(greeting ?? '', /^220 /);
    const p = await probe(c, 'someone@example.org');
    assert.match(p.ehlo, /\[(IPv6:)?2001:db8:1::25\]/);
    assert.match(p.rcpt, /^250 2\.1\.5/);
    const e = await envelope(relay, await data(c));
    assert.equal(e.client.address, '2001:db8:1::25');
    const stranger = await viaProxy(port, tcp6([0x2001, 0xdb8, 2, 0, 0, 0, 0, 9]));
    assert.equal((await probe(stranger.c, 'someone@example.org')).rcpt, '554 5.7.1 Relaying denied');
    stranger.c.end();
  });

  await t.test('a header that arrives one byte per write, with TLVs, is read whole', async () => {
    const c = await RawClient.connect(port, PROXY);
    c.socket.setNoDelay(true);
    const header = tcp4('10.1.9.9', Buffer.from([0x01, 0, 4, 0x73, 0x6d, 0x74, 0x70, 0x04, 0, 2, 0, 0]));
    for (const byte of header) await new Promise<void>((done) => c.socket.write(Buffer.from([byte]), () => done()));
    assert.match((await c.reply()) ?? '', /^220 /);
    const { rcpt } = await probe(c, 'someone@example.org');
    assert.match(rcpt, /^250 2\.1\.5/);
    assert.equal((await envelope(relay, await data(c))).client.address, '10.1.9.9');
  });

  await t.test('a header claiming a blacklisted address is refused at connect', async () => {
    const { c, greeting } = await viaProxy(port, tcp4('10.66.0.1'));
    assert.equal(greeting, '554 5.7.1 Access denied');
    assert.equal(await c.closedByServer(), true);
  });

  await t.test('health checks leave no log line and no statistics', async () => {
    const before = await api.call('GET', '/api/stats', { as: admin });
    assert.equal(before.status, 200, before.text);
    const linesBefore = relay.logs.length;
    for (let i = 0; i < 5; i++) {
      // HAProxy's `check` without PROXY: connect, close; or a reset.
      await touch(port, null, 'end');
      await touch(port, null, 'reset');
      // `check` with send-proxy-v2: a LOCAL header, then close or reset.
      await touch(port, LOCAL, 'end');
      await touch(port, LOCAL, 'reset');
      // `option smtpchk` with send-proxy-v2: LOCAL, the greeting, HELO, QUIT.
      const { c, greeting } = await viaProxy(port, LOCAL);
      assert.match(greeting ?? '', /^220 /);
      assert.match((await c.cmd('HELO haproxy.example.net')) ?? '', /^250 /);
      assert.match((await c.cmd('QUIT')) ?? '', /^221 /);
      assert.equal(await c.closedByServer(), true);
      // A TCP check with send-proxy-v2 on the implicit-TLS port: LOCAL, then gone before the handshake.
      await touch(relay.ports.smtps, LOCAL, 'end');
      await touch(relay.ports.smtps, LOCAL, 'reset');
      await touch(relay.ports.smtps, null, 'reset');
      // v1 health checks: UNKNOWN, or (HAProxy's) the proxy's own address as the client.
      const own = await viaProxy(port, Buffer.from(`PROXY TCP4 ${PROXY} 127.0.0.1 ${40000 + i} 25\r\n`));
      assert.match(own.greeting ?? '', /^220 /);
      assert.match((await own.c.cmd('HELO haproxy.example.net')) ?? '', /^250 /);
      assert.match((await own.c.cmd('QUIT')) ?? '', /^221 /);
      own.c.end();
      const u = await viaProxy(port, Buffer.from('PROXY UNKNOWN\r\n'));
      assert.match(u.greeting ?? '', /^220 /);
      assert.match((await u.c.cmd('EHLO haproxy.example.net')) ?? '', /^250[ -]/);
      assert.match((await u.c.cmd('QUIT')) ?? '', /^221 /);
      u.c.end();
    }
    // A marker session after the checks: once its disconnect line is in, the checks' lines would be too.
    const m = await viaProxy(port, tcp4('10.1.7.7'));
    await m.c.cmd('QUIT');
    m.c.end();
    await relay.waitLog((l) => l.event === 'disconnect' && l.client === '10.1.7.7');
    const lines = relay.logs.slice(linesBefore);
    assert.deepEqual(lines.filter(mentionsProxy), [], 'no line about the proxy');
    const noisy = new Set(['connect', 'disconnect', 'proxy.bad_header', 'smtp.error', 'connect.error', 'connect.limit', 'tls.handshake_failed']);
    assert.deepEqual(lines.filter((l) => noisy.has(l.event)).map((l) => [l.event, l.client, l.reason]), [['connect', '10.1.7.7', undefined], ['disconnect', '10.1.7.7', undefined]], 'only the marker\'s session');
    const after = await api.call('GET', '/api/stats', { as: admin });
    assert.deepEqual(after.json.per_minute.map(total), before.json.per_minute.map(total), 'no counter moved');
    assert.deepEqual(after.json.top_refused, before.json.top_refused);
  });

  await t.test('a LOCAL connection that sends mail is served and logged as the proxy itself', async () => {
    const { c, greeting } = await viaProxy(port, LOCAL);
    assert.match(greeting ?? '', /^220 /);
    const { ehlo, rcpt } = await probe(c, 'someone@example.org');
    assert.match(ehlo, /\[127\.0\.0\.4\]/);
    // The proxy is no relay host: its own address has no relay right.
    assert.equal(rcpt, '554 5.7.1 Relaying denied');
    assert.match((await c.cmd('RCPT TO:<info@example.com>')) ?? '', /^250 2\.1\.5/);
    const id = await data(c);
    assert.equal((await envelope(relay, id)).client.address, PROXY);
    const line = await relay.waitLog((l) => l.event === 'connect' && l.client === PROXY);
    assert.deepEqual([line.action, line.proxy], ['accept', 'local']);
    // The connect line comes before the first line of the transaction.
    const at = relay.logs.indexOf(line);
    const mail = relay.logs.findIndex((l) => l.event === 'mail' && l.cid === line.cid);
    assert.ok(mail < 0 || mail > at, 'connect before mail');
    assert.ok(relay.logs.findIndex((l) => l.event === 'rcpt' && l.cid === line.cid) > at);
    await relay.waitLog((l) => l.event === 'disconnect' && l.cid === line.cid);
  });

  await t.test('a bad header from the trusted proxy: the connection is closed, one log line, no crash', async () => {
    const bad: Buffer[] = [
      Buffer.concat([tcp4('10.1.2.3').subarray(0, 12), Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)]), // version 3
      Buffer.concat([tcp4('10.1.2.3').subarray(0, 12), Buffer.from([0x21, 0x31, 0, 216]), Buffer.alloc(216)]), // AF_UNIX
      Buffer.concat([tcp4('10.1.2.3').subarray(0, 12), Buffer.from([0x21, 0x12, 0, 12]), Buffer.alloc(12)]), // UDP
      Buffer.concat([tcp4('10.1.2.3').subarray(0, 12), Buffer.from([0x21, 0x11, 0xff, 0xff])]), // oversize
      Buffer.concat([tcp4('10.1.2.3').subarray(0, 12), Buffer.from([0x21, 0x21, 0, 12]), Buffer.alloc(12)]), // IPv6 family, IPv4-sized block
      Buffer.from('PROXY TCP4 10.1.2.3 127.0.0.1 5555\r\n'),
      Buffer.from('EHLO client.example\r\n'),
    ];
    for (const header of bad) {
      const { c, greeting } = await viaProxy(port, header);
      assert.equal(greeting, null, `no SMTP reply to ${JSON.stringify(header.toString('latin1'))}`);
      assert.equal(c.closed, true);
    }
    // Cut off mid-header: the proxy closes after half a header.
    await touch(port, tcp4('10.1.2.3').subarray(0, 20), 'end');
    // One line for the first (the rest of the minute is summed up by the throttle); the daemon serves on.
    const line = await relay.waitLog((l) => l.event === 'proxy.bad_header');
    assert.deepEqual([line.proxy, line.listener, line.reason], [PROXY, 'mx', 'v2: version 3']);
    const { c, greeting } = await viaProxy(port, tcp4('10.1.2.3'));
    assert.match(greeting ?? '', /^220 /);
    c.end();
    assert.equal(relay.child.exitCode, null);
  });

  await t.test('from an untrusted peer a v2 header is SMTP: the greeting comes first, its own address is used, and the signature\'s QUIT ends it', async () => {
    const c = await RawClient.connect(port, UNTRUSTED);
    assert.match((await c.reply()) ?? '', /^220 /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /\[127\.0\.0\.3\]/);
    // The v2 signature is \r\n\r\n\0\r\nQUIT\n on purpose: a server that does not expect it says goodbye.
    c.write(tcp4('10.1.2.3'));
    const replies: string[] = [];
    for (let r = await c.reply(); r !== null; r = await c.reply()) replies.push(r);
    assert.match(replies.at(-1) ?? '', /^221 /, JSON.stringify(replies));
    assert.equal(c.closed, true);
    const line = await relay.waitLog((l) => l.event === 'connect' && l.client === UNTRUSTED);
    assert.equal(line.action, 'accept');
  });
});

/** Every counter of one minute of /api/stats, summed: what a health check must not move. */
function total(m: Record<string, unknown>): number {
  return Object.values(m).reduce<number>((n, v) => n + (typeof v === 'number' ? v : 0), 0);
}
