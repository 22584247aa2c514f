// A real load balancer in front of the cluster (issue #15): Debian's HAProxy,
// configured from examples/haproxy/haproxy.cfg (send-proxy-v2, check with
// option smtpchk), in front of three nodes on one PostgreSQL. Clients connect
// to HAProxy from their own loopback addresses; the nodes see those addresses
// through the PROXY v2 header, so a relay host relays (and its mail reaches
// the sink through the smarthost) and a stranger is refused, both through
// HAProxy, over IPv4 and IPv6. HAProxy's health checks run every 100 ms for
// the whole test and leave no log line, no error and no statistics on any
// node; a node that goes away is taken out by them and mail keeps flowing.
// The same with send-proxy (v1) at the end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawClient, type LogLine } from '../smtp/harness.ts';
import { ApiClient, onStderr } from '../api/client.ts';
import { clusterMissing, startCluster, waitArrival, type ClusterNode } from './harness.ts';
import { EXAMPLE_CONFIG, HAPROXY, haproxyMissing, renderConfig, startHaproxy } from '../support/haproxy.ts';

const LB = '127.0.0.2'; // HAProxy's source address towards the nodes: the trusted proxy
const RELAY_CLIENT = '127.0.5.5'; // in the relay network "office"
const STRANGER = '127.0.6.6';
const OUTSIDE = 'someone@elsewhere.example'; // not a local domain: relayed, through the smarthost (the sink)

test('the test configuration is the example with its global section, binds and server lines replaced', () => {
  const example = readFileSync(EXAMPLE_CONFIG, 'utf8');
  const cfg = renderConfig(example, { backends: [{ host: '127.0.0.1', port: 2501 }, { host: '::1', port: 2502, name: 'six' }], statsSocket: '/tmp/x.sock', fds: [3, 4], checkInterMs: 100, source: LB });
  const lines = cfg.split('\n').map((l) => l.trim());
  // What an administrator tunes is carried over as written.
  for (const kept of ['mode tcp', 'option tcplog', 'timeout client 10m', 'timeout server 10m', 'timeout connect 5s', 'option redispatch', 'balance leastconn', 'option smtpchk HELO haproxy.example.net', 'frontend smtp', 'backend mailwarden', 'default_backend mailwarden'])
    assert.ok(lines.includes(kept), `${kept} is kept`);
  assert.deepEqual(lines.filter((l) => l.startsWith('bind')), ['bind fd@3', 'bind fd@4']);
  assert.deepEqual(lines.filter((l) => l.startsWith('server')), [
    'server node1 127.0.0.1:2501 send-proxy-v2 check inter 100 fall 2 rise 2 source 127.0.0.2',
    'server six [::1]:2502 send-proxy-v2 check inter 100 fall 2 rise 2 source 127.0.0.2',
  ]);
  assert.ok(!/chroot|^\s*user |daemon|\/dev\/log/m.test(cfg), 'the example\'s global section is not used');
  const v1 = renderConfig(example, { backends: [{ host: '127.0.0.1', port: 1 }], statsSocket: '/s', fds: [3], sendProxy: 'v1', check: 'tcp' });
  assert.match(v1, /server node1 127\.0\.0\.1:1 send-proxy check inter 2s fall 2 rise 2\n/);
  assert.doesNotMatch(v1, /smtpchk/);
  const none = renderConfig(example, { backends: [{ host: '127.0.0.1', port: 1 }], statsSocket: '/s', fds: [3], sendProxy: false, check: false });
  assert.match(none, /server node1 127\.0\.0\.1:1\n/);
});

test('the example, as an administrator installs it, is a valid HAProxy configuration (haproxy -c)', { skip: haproxyMissing() ?? false }, () => {
  const r = spawnSync(HAPROXY, ['-c', '-f', EXAMPLE_CONFIG], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /Configuration file is valid/);
});

/** One transaction through HAProxy from `src`; resolves with the RCPT reply and, when accepted, the DATA reply. */
/** Resolves once the nodes together have logged `count` lines matching `pred`. */
async function waitAcross(nodes: readonly ClusterNode[], pred: (l: LogLine) => boolean, count: number, ms: number): Promise<void> {
  const total = () => nodes.reduce((n, x) => n + x.logs.filter(pred).length, 0);
  if (total() >= count) return;
  await Promise.race(nodes.map((n) => n.waitLog((l) => pred(l) && total() >= count, ms)));
}

async function send(port: number, src: string, tag: string): Promise<{ rcpt: string; end: string | null }> {
  const c = await RawClient.connect(port, src);
  try {
    assert.match((await c.reply()) ?? '(closed)', /^220 mx\.cluster\.example /);
    assert.match((await c.cmd('EHLO client.example')) ?? '', /^250/);
    assert.match((await c.cmd('MAIL FROM:<sender@client.example>')) ?? '', /^250 /);
    const rcpt = (await c.cmd(`RCPT TO:<${OUTSIDE}>`)) ?? '(closed)';
    if (!rcpt.startsWith('250')) return { rcpt, end: null };
    assert.match((await c.cmd('DATA')) ?? '', /^354/);
    const end = (await c.cmd(`From: <sender@client.example>\r\nTo: <${OUTSIDE}>\r\nSubject: ${tag}\r\n\r\nthrough haproxy\r\n.`)) ?? '(closed)';
    await c.cmd('QUIT');
    return { rcpt, end };
  } finally {
    c.end();
  }
}

const NOISE = new Set(['smtp.error', 'connect.error', 'connect.limit', 'proxy.bad_header', 'tls.handshake_failed', 'data.error', 'delivery.error']);

/** Lines a health check must never cause: any line naming the load balancer, and any error. */
function noise(nodes: ClusterNode[]): { node: string; line: LogLine }[] {
  return nodes.flatMap((n) => n.logs.filter((l) => NOISE.has(l.event) || JSON.stringify(l).includes(`"${LB}"`)).map((line) => ({ node: n.name, line })));
}

test('through HAProxy with send-proxy-v2 and health checks: relay by the real client address, refusals, IPv6, no noise from the checks', { skip: clusterMissing() ?? haproxyMissing() ?? false }, async (t) => {
  const cluster = await startCluster(t);
  cluster.doc = {
    ...cluster.doc,
    listeners: [{ name: 'mx', address: '127.0.0.1', port: 0, mode: 'mx', trusted_proxies: ['lb'] }],
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'lb', type: 'host', address: LB },
      { name: 'office', type: 'network', address: '127.0.5.0/24' },
      { name: 'office6', type: 'host', address: '::1' },
    ],
    relaying: { allowed_hosts: ['localhost', 'office', 'office6'] },
    delivery: { enabled: true, smarthost: { host: cluster.sink.address, port: cluster.sink.port } },
    admin: { enabled: true, address: '127.0.0.1', port: 0 },
  };
  const first = await cluster.startNode('node1', { config: true });
  const nodes = [first, ...(await Promise.all([cluster.startNode('node2'), cluster.startNode('node3')]))];
  const lb = await startHaproxy(t, { backends: nodes.map((n) => ({ host: '127.0.0.1', port: n.ports.mx, name: n.name })), source: LB, checkInterMs: 100, ipv6: true });
  await lb.waitUp(3);

  await t.test('a relay host relays through HAProxy, its mail reaches the sink, and every node saw the real client', async () => {
    // leastconn spreads sequential sessions; six of them reach more than one node.
    for (let i = 0; i < 6; i++) {
      const tag = `lb-relay-${i}`;
      const r = await send(lb.port, RELAY_CLIENT, tag);
      assert.match(r.rcpt, /^250 2\.1\.5/);
      assert.match(r.end ?? '', /^250 /);
      const m = await waitArrival(cluster.sink, tag, 30_000);
      assert.match(m.raw.toString('latin1'), /Received: from client\.example \(\[127\.0\.5\.5\]\)/);
    }
    const served = nodes.filter((n) => n.logs.some((l) => l.event === 'connect' && l.client === RELAY_CLIENT));
    assert.ok(served.length >= 2, `sessions reached ${served.map((n) => n.name).join(', ')}`);
    for (const n of served) {
      const line = n.logs.find((l) => l.event === 'rcpt' && l.client === RELAY_CLIENT);
      assert.deepEqual([line?.action, line?.kind], ['accept', 'relay']);
    }
  });

  await t.test('a client that may not relay is refused through HAProxy (554 5.7.1), named by its own address', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await send(lb.port, STRANGER, `lb-stranger-${i}`);
      assert.equal(r.rcpt, '554 5.7.1 Relaying denied');
    }
    // A node logs the refusal just after it writes the reply: wait for the three lines, wherever they were served.
    const isRefusal = (l: LogLine) => l.event === 'rcpt' && l.client === STRANGER;
    await waitAcross(nodes, isRefusal, 3, 10_000);
    const refused = nodes.flatMap((n) => n.logs.filter(isRefusal));
    assert.equal(refused.length, 3);
    assert.ok(refused.every((l) => l.action === 'reject' && l.code === 554));
  });

  await t.test('IPv6: a client on [::1] through HAProxy\'s IPv6 frontend is itself to the nodes (PROXY v2 over AF_INET6)', async () => {
    assert.ok(lb.port6);
    const r = await send(lb.port6, '::1', 'lb-ipv6');
    assert.match(r.rcpt, /^250 2\.1\.5/);
    assert.match(r.end ?? '', /^250 /);
    const m = await waitArrival(cluster.sink, 'lb-ipv6', 30_000);
    assert.match(m.raw.toString('latin1'), /Received: from client\.example \(\[IPv6:::1\]\)/);
    assert.ok(nodes.some((n) => n.logs.some((l) => l.event === 'connect' && l.client === '::1')));
  });

  await t.test('the health checks passed the whole time and left no log line, no error and no statistics', async () => {
    const states = await lb.servers();
    assert.deepEqual(states.map((s) => [s.name, s.status, s.check, s.failedChecks]), nodes.map((n) => [n.name, 'UP', 'L7OK', 0]), 'HAProxy\'s SMTP checks (LOCAL header, 220, HELO, QUIT) all passed');
    assert.deepEqual(noise(nodes), []);
    // The dashboard's numbers, from the node that made the first admin.
    const maker = nodes.find((n) => n.logs.some((l) => l.event === 'admin.created'));
    assert.ok(maker?.adminPort);
    const password = await onStderr(maker, () => /with the password\n\n {4}(\S+)\n/.exec(maker.stderr())?.[1] ?? null);
    const api = new ApiClient(maker.adminPort, readFileSync(join(maker.dataDir, 'tls', 'cert.pem')));
    const me = await api.login('admin', password);
    const s = await api.call('GET', '/api/stats', { as: me });
    assert.equal(s.status, 200, s.text);
    const refused = (s.json.per_minute as { refused: number }[]).reduce((n, m) => n + m.refused, 0);
    // At most the three refused strangers (other nodes hand their minutes to the store on their own time); checks every 100 ms would be hundreds.
    assert.ok(refused <= 3, `refused ${refused}`);
    assert.equal((s.json.top_refused as { client: string }[]).some((c) => c.client === LB), false);
  });

  await t.test('a node that goes away is taken out by the checks, and mail keeps flowing through the others', async () => {
    await nodes[2]!.kill();
    await lb.waitState('node3', 'DOWN');
    for (let i = 0; i < 3; i++) {
      const r = await send(lb.port, RELAY_CLIENT, `lb-after-kill-${i}`);
      assert.match(r.end ?? '', /^250 /);
      await waitArrival(cluster.sink, `lb-after-kill-${i}`, 30_000);
    }
    assert.deepEqual(noise(nodes.slice(0, 2)), []);
  });

  await t.test('send-proxy (v1) with its checks works the same', async () => {
    const v1 = await startHaproxy(t, { backends: nodes.slice(0, 2).map((n) => ({ host: '127.0.0.1', port: n.ports.mx, name: n.name })), source: LB, checkInterMs: 100, sendProxy: 'v1' });
    await v1.waitUp(2);
    const ok = await send(v1.port, RELAY_CLIENT, 'lb-v1');
    assert.match(ok.end ?? '', /^250 /);
    await waitArrival(cluster.sink, 'lb-v1', 30_000);
    assert.equal((await send(v1.port, STRANGER, 'lb-v1-stranger')).rcpt, '554 5.7.1 Relaying denied');
    // A few more rounds of checks, then the same silence.
    const before = (await v1.servers()).map((s) => s.check);
    assert.deepEqual(before, ['L7OK', 'L7OK']);
    assert.deepEqual(noise(nodes.slice(0, 2)), []);
    await v1.stop();
  });
});
