// PROXY protocol v1 on the wire: a header from a trusted proxy (by host or by
// network object) makes its address the client address for every rule (relay
// right, blacklist, spool, Received header); from anyone else, and on a
// listener without trusted proxies, a PROXY line is just an unknown command.
// The proxy path (issue #13): a trusted proxy can claim a relay host's address,
// so a wide trusted_proxies is refused at apply, and what `policy
// test-open-relay` reports for a proxy range is what the wire does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Envelope } from '../../src/queue/envelope.ts';
import { RawClient, relayDoc, restartRelay, startRelay, swaks, swaksMissing, type Relay, runCli as run, queuedId } from './harness.ts';

const skip = swaksMissing();

const PROXY = '127.0.0.4'; // trusted by host object
const PROXY_IN_NET = '127.0.9.5'; // trusted through a network object
const PROXY_RELAY_HOST = '127.0.9.9'; // trusted proxy that is itself a relay host
const UNTRUSTED = '127.0.0.3';

async function envelope(relay: Relay, id: string): Promise<Envelope> {
  const r = await run(['queue', 'list', '--json', '--data', relay.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  const e = (JSON.parse(r.stdout) as Envelope[]).find((m) => m.id === id);
  assert.ok(e, `message ${id} is in the spool`);
  return e;
}

async function message(relay: Relay, id: string): Promise<string> {
  const r = await run(['queue', 'show', id, '--data', relay.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.slice(r.stdout.indexOf('\n\n') + 2);
}

/** Connects from `src`, sends the PROXY line first, returns the client and the greeting. */
async function viaProxy(port: number, src: string, header: string): Promise<{ c: RawClient; greeting: string | null }> {
  const c = await RawClient.connect(port, src);
  c.write(header + '\r\n');
  return { c, greeting: await c.reply() };
}

/**
 * Connects from `src` to a listener that must not expect a header from it: the
 * greeting comes without waiting for one, then the PROXY line is sent as a command.
 */
async function proxyLineAsCommand(port: number, src: string, header: string): Promise<{ c: RawClient; greeting: string | null; answer: string }> {
  const c = await RawClient.connect(port, src);
  const greeting = await c.reply();
  return { c, greeting, answer: (await c.cmd(header)) ?? '(closed)' };
}

/** EHLO, MAIL, RCPT: returns the EHLO reply and the RCPT reply. */
async function probe(c: RawClient, to: string): Promise<{ ehlo: string; rcpt: string }> {
  const ehlo = (await c.cmd('EHLO client.example')) ?? '';
  assert.match((await c.cmd('MAIL FROM:<a@example.net>')) ?? '', /^250 /);
  const rcpt = (await c.cmd(`RCPT TO:<${to}>`)) ?? '';
  return { ehlo, rcpt };
}

async function data(c: RawClient): Promise<string> {
  assert.match((await c.cmd('DATA')) ?? '', /^354/);
  const id = queuedId((await c.cmd('Subject: proxied\r\n\r\nhi\r\n.')) ?? '');
  await c.cmd('QUIT');
  c.end();
  return id;
}

test('PROXY protocol v1', { skip }, async (t) => {
  const { doc, ports } = await relayDoc({
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'proxy', type: 'host', address: PROXY },
      { name: 'proxynet', type: 'network', address: '127.0.9.0/24' },
      { name: 'proxy-relay', type: 'host', address: PROXY_RELAY_HOST },
      { name: 'office', type: 'network', address: '10.1.0.0/16' },
      { name: 'office6', type: 'network', address: '2001:db8:1::/48' },
      { name: 'bad', type: 'host', address: '10.66.0.1' },
      { name: 'bad6', type: 'network', address: '2001:db8:bad::/48' },
    ],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: { allowed_hosts: ['localhost', 'office', 'office6', 'proxy-relay'], blacklist: ['bad', 'bad6'] },
  });
  const listeners = doc.listeners as Record<string, unknown>[];
  listeners[0] = { ...listeners[0], trusted_proxies: ['proxy', 'proxynet'] }; // mx
  listeners[2] = { ...listeners[2], trusted_proxies: ['proxy'] }; // smtps; submission trusts nobody
  const relay = await startRelay(t, doc, ports);

  await t.test('a trusted proxy: the header address gets the relay right, and is the client in log, spool and Received', async () => {
    const { c, greeting } = await viaProxy(ports.mx, PROXY, 'PROXY TCP4 10.1.2.3 127.0.0.1 5555 25');
    assert.match(greeting ?? '', /^220 mx\.test\.example /);
    const { ehlo, rcpt } = await probe(c, 'someone@example.org');
    assert.match(ehlo, /\[10\.1\.2\.3\]/);
    assert.match(rcpt, /^250 2\.1\.5/);
    const id = await data(c);
    const e = await envelope(relay, id);
    assert.deepEqual([e.client.address, e.relayed, e.recipients[0]?.kind, e.recipients[0]?.rule], ['10.1.2.3', true, 'relay', 'rule 4']);
    assert.match(await message(relay, id), /^Received: from client\.example \(\[10\.1\.2\.3\]\)/);
    const line = relay.logs.find((l) => l.event === 'connect' && l.client === '10.1.2.3');
    assert.ok(line, 'connect log line names 10.1.2.3');
    assert.equal(line.action, 'accept');
    assert.equal(relay.logs.some((l) => l.event === 'connect' && l.client === PROXY), false, 'the proxy itself is never the client');
  });

  await t.test('a trusted proxy with swaks --proxy-*: same result', async () => {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(ports.mx), '--local-interface', PROXY, '--proxy-family', 'TCP4', '--proxy-source', '10.1.4.4', '--proxy-source-port', '40000', '--proxy-dest', '127.0.0.1', '--proxy-dest-port', '25', '--ehlo', 'client.example', '--from', 'a@example.net', '--to', 'someone@example.org']);
    assert.equal(r.status, 0, r.out);
    const e = await envelope(relay, queuedId(r.out));
    assert.deepEqual([e.client.address, e.recipients[0]?.kind], ['10.1.4.4', 'relay']);
  });

  await t.test('a trusted proxy with a header for a stranger: no relay right (not even the proxy\'s own), inbound still accepted', async () => {
    // PROXY_RELAY_HOST is a relay host itself: its header address must replace it.
    const { c, greeting } = await viaProxy(ports.mx, PROXY_RELAY_HOST, 'PROXY TCP4 192.0.2.60 127.0.0.1 5555 25');
    assert.match(greeting ?? '', /^220 /);
    const { rcpt } = await probe(c, 'someone@example.org');
    assert.equal(rcpt, '554 5.7.1 Relaying denied');
    assert.match((await c.cmd('RCPT TO:<info@example.com>')) ?? '', /^250 2\.1\.5/);
    const id = await data(c);
    const e = await envelope(relay, id);
    assert.deepEqual([e.client.address, e.relayed, e.recipients.map((r) => r.address)], ['192.0.2.60', false, ['info@example.com']]);
  });

  await t.test('a header claiming a blacklisted address is refused at connect', async () => {
    const { c, greeting } = await viaProxy(ports.mx, PROXY, 'PROXY TCP4 10.66.0.1 127.0.0.1 5555 25');
    assert.equal(greeting, '554 5.7.1 Access denied');
    assert.equal(await c.closedByServer(), true);
    const line = await relay.waitLog((l) => l.event === 'connect' && l.client === '10.66.0.1');
    assert.deepEqual([line.action, line.rule], ['reject', 'rule 1']);
  });

  await t.test('an untrusted sender\'s PROXY line is an unknown command and its own address is used', async () => {
    const claimed = () => relay.logs.filter((l) => l.event === 'connect' && l.client === '10.1.2.3').length;
    const before = claimed();
    const { c, greeting, answer } = await proxyLineAsCommand(ports.mx, UNTRUSTED, 'PROXY TCP4 10.1.2.3 127.0.0.1 5555 25');
    assert.match(greeting ?? '', /^220 /);
    assert.match(answer, /^5\d\d /);
    const { ehlo, rcpt } = await probe(c, 'someone@example.org');
    assert.match(ehlo, /\[127\.0\.0\.3\]/);
    assert.equal(rcpt, '554 5.7.1 Relaying denied');
    assert.match((await c.cmd('RCPT TO:<info@example.com>')) ?? '', /^250 2\.1\.5/);
    const e = await envelope(relay, await data(c));
    assert.equal(e.client.address, UNTRUSTED);
    assert.equal(claimed(), before, 'no connection was taken to come from the claimed address');
    assert.ok(relay.logs.some((l) => l.event === 'connect' && l.client === UNTRUSTED));

    // A relay host that is not a trusted proxy cannot get itself refused (or re-addressed) by a header.
    const r = await proxyLineAsCommand(ports.mx, '127.0.0.1', 'PROXY TCP4 10.66.0.1 127.0.0.1 5555 25');
    assert.match(r.greeting ?? '', /^220 /);
    assert.match(r.answer, /^5\d\d /);
    const p = await probe(r.c, 'someone@example.org');
    assert.match(p.rcpt, /^250 2\.1\.5/);
    const e2 = await envelope(relay, await data(r.c));
    assert.equal(e2.client.address, '127.0.0.1');
  });

  await t.test('trust is per listener: the trusted proxy\'s PROXY line on submission is an unknown command', async () => {
    const { c, greeting, answer } = await proxyLineAsCommand(ports.submission, PROXY, 'PROXY TCP4 10.1.2.3 127.0.0.1 5555 587');
    assert.match(greeting ?? '', /^220 /);
    assert.match(answer, /^5\d\d /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /\[127\.0\.0\.4\]/);
    c.end();
  });

  await t.test('a proxy trusted through a network object (not an exact address) works', async () => {
    const { c, greeting } = await viaProxy(ports.mx, PROXY_IN_NET, 'PROXY TCP4 10.1.7.7 127.0.0.1 5555 25');
    assert.match(greeting ?? '', /^220 /);
    const { rcpt } = await probe(c, 'someone@example.org');
    assert.match(rcpt, /^250 2\.1\.5/);
    const e = await envelope(relay, await data(c));
    assert.deepEqual([e.client.address, e.recipients[0]?.kind], ['10.1.7.7', 'relay']);
  });

  await t.test('a trusted proxy that sends no header gets no SMTP service', async () => {
    const c = await RawClient.connect(ports.mx, PROXY);
    c.write('EHLO client.example\r\n');
    assert.equal(await c.reply(), null, 'no SMTP reply at all');
    assert.equal(c.closed, true);
  });

  await t.test('IPv6: PROXY TCP6 from a trusted proxy (relay network, blacklist, v4-mapped)', async () => {
    const v6 = await viaProxy(ports.mx, PROXY, 'PROXY TCP6 2001:db8:1::25 2001:db8::1 5555 25');
    assert.match(v6.greeting ?? '', /^220 /);
    const p = await probe(v6.c, 'someone@example.org');
    assert.match(p.ehlo, /\[(IPv6:)?2001:db8:1::25\]/);
    assert.match(p.rcpt, /^250 2\.1\.5/);
    const id = await data(v6.c);
    const e = await envelope(relay, id);
    assert.deepEqual([e.client.address, e.recipients[0]?.kind], ['2001:db8:1::25', 'relay']);
    assert.match(await message(relay, id), /^Received: from client\.example \(\[IPv6:2001:db8:1::25\]\)/);

    const bad = await viaProxy(ports.mx, PROXY, 'PROXY TCP6 2001:db8:bad::7 2001:db8::1 5555 25');
    assert.equal(bad.greeting, '554 5.7.1 Access denied');
    assert.equal(await bad.c.closedByServer(), true);

    const stranger6 = await viaProxy(ports.mx, PROXY, 'PROXY TCP6 2001:db8:2::9 2001:db8::1 5555 25');
    assert.equal((await probe(stranger6.c, 'someone@example.org')).rcpt, '554 5.7.1 Relaying denied');
    stranger6.c.end();

    // An IPv4-mapped address is the IPv4 address for every rule.
    const mapped = await viaProxy(ports.mx, PROXY, 'PROXY TCP6 ::ffff:10.1.2.3 ::1 5555 25');
    assert.match(mapped.greeting ?? '', /^220 /);
    assert.match((await probe(mapped.c, 'someone@example.org')).rcpt, /^250 2\.1\.5/);
    mapped.c.end();
    const mappedBad = await viaProxy(ports.mx, PROXY, 'PROXY TCP6 ::ffff:10.66.0.1 ::1 5555 25');
    assert.equal(mappedBad.greeting, '554 5.7.1 Access denied');
    mappedBad.c.end();
  });

  await t.test('smtps: the PROXY header comes before the TLS handshake (swaks)', async () => {
    const r = await swaks(['--server', '127.0.0.1', '--port', String(ports.smtps), '--local-interface', PROXY, '--tls-on-connect', '--proxy-family', 'TCP4', '--proxy-source', '10.1.5.5', '--proxy-source-port', '40000', '--proxy-dest', '127.0.0.1', '--proxy-dest-port', '465', '--ehlo', 'client.example', '--from', 'a@example.net', '--to', 'someone@example.org']);
    assert.equal(r.status, 0, r.out);
    const e = await envelope(relay, queuedId(r.out));
    assert.deepEqual([e.client.address, e.client.listener, e.client.tls, e.recipients[0]?.kind], ['10.1.5.5', 'smtps', true, 'relay']);
  });
});

test('the proxy path: a wide trusted_proxies is refused at apply; test-open-relay and explain report what the wire does', { skip }, async (t) => {
  const networks = [
    { name: 'localhost', type: 'host', address: '127.0.0.1' },
    { name: 'proxynet', type: 'network', address: '127.0.9.0/24' },
    { name: 'office', type: 'network', address: '10.1.0.0/16' },
  ];
  const { doc, ports } = await relayDoc({
    networks,
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: { allowed_hosts: ['localhost', 'office'] },
  });
  const listeners = doc.listeners as Record<string, unknown>[];
  const withMxProxies = (names: string[]) => listeners.map((l, i) => (i === 0 ? { ...l, trusted_proxies: names } : l));
  doc.listeners = withMxProxies(['proxynet']);
  const relay = await startRelay(t, doc, ports);

  await t.test('test-open-relay: an outside client relays nothing, the proxy range relays, and so it does on the wire', async () => {
    const r = await run(['policy', 'test-open-relay', '--data', relay.dataDir, '--client', '192.0.2.60', '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { relayed: number; proxies: { listener: string; network: string; probe: string; claims: string; relayed: number }[] };
    assert.equal(report.relayed, 0);
    const p = report.proxies.find((x) => x.network === 'proxynet');
    assert.ok(p && p.listener === 'mx' && p.relayed > 0, JSON.stringify(report.proxies));

    // The address the report says a proxy can claim gets a relay right from a real PROXY header.
    const { c, greeting } = await viaProxy(ports.mx, PROXY_IN_NET, `PROXY TCP4 ${p.claims} 127.0.0.1 5555 25`);
    assert.match(greeting ?? '', /^220 /);
    assert.match((await probe(c, 'someone@victim.example')).rcpt, /^250 2\.1\.5/);
    const e = await envelope(relay, await data(c));
    assert.deepEqual([e.client.address, e.relayed, e.recipients[0]?.kind], [p.claims, true, 'relay']);
  });

  await t.test('explain: a client in the proxy range is decided for the relay host it can claim', async () => {
    const r = await run(['policy', 'explain', '--data', relay.dataDir, '--client', PROXY_IN_NET, '--to', 'someone@victim.example', '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual([j.action, j.kind, j.proxy?.listener, j.proxy?.claims_as], ['accept', 'relay', 'mx', 'relay host']);
  });

  await t.test('64.0.0.0/2 or 2000::/4 as trusted proxies is refused at apply; the daemon keeps its revision', async () => {
    for (const address of ['64.0.0.0/2', '2000::/4']) {
      const file = join(relay.dataDir, 'wide.yaml');
      writeFileSync(file, stringify({ ...doc, networks: [...networks, { name: 'wide', type: 'network', address }], listeners: withMxProxies(['proxynet', 'wide']) }));
      const r = await run(['config', 'import', file, '--data', relay.dataDir]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /listeners\[0\] \("mx"\)\.trusted_proxies: this would make an open relay/);
      const active = await run(['config', 'export', '--json', '--data', relay.dataDir]);
      assert.deepEqual((JSON.parse(active.stdout) as { listeners: { trusted_proxies: string[] }[] }).listeners[0]?.trusted_proxies, ['proxynet'], address);
    }
  });

  await t.test('acknowledged, it is applied with a loud warning the daemon logs', async () => {
    const file = join(relay.dataDir, 'wide-ack.yaml');
    writeFileSync(file, stringify({ ...doc, networks: [...networks, { name: 'wide', type: 'network', address: '64.0.0.0/2' }], listeners: withMxProxies(['proxynet', 'wide']), relaying: { allowed_hosts: ['localhost', 'office'], open_relay_acknowledged: true } }));
    const r = await run(['config', 'import', file, '--data', relay.dataDir]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /OPEN RELAY through trusted proxies: "proxynet", "wide" let \d+ public IPv4 addresses send a PROXY header/);
    const active = await relay.waitLog((l) => l.event === 'config.active' && l.revision === 2);
    assert.equal(active.revision, 2);
    // And every start says so, naming the proxies.
    assert.equal(await relay.stop(), 0);
    const again = await restartRelay(t, relay.dataDir, ports);
    const loud = await again.waitLog((l) => l.event === 'config.open_relay');
    assert.match(String((loud.reasons as string[])[0]), /^listeners\[0\]\.trusted_proxies: "proxynet", "wide" let /);
    assert.match(again.stderr(), /WARNING: this relay is configured as an OPEN RELAY/);
  });
});
