// `policy explain` and `policy test-open-relay` through bin/mailwarden, on a
// settings file (--config) and on an installation (--data).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, mailwarden, tempDir } from './helpers.ts';

const EXAMPLE = join(FIXTURES, 'example.yaml');
const explain = (args: string[]) => mailwarden(['policy', 'explain', '--config', EXAMPLE, '--from', 'sender@example.net', '--json', ...args]);

test('explain --json: relay host relays, stranger is refused, local domain is inbound', async () => {
  const relay = await explain(['--client', '10.1.2.3', '--to', 'someone@remote.example']);
  assert.equal(relay.status, 0, relay.stderr);
  const j = JSON.parse(relay.stdout);
  assert.equal(j.action, 'accept');
  assert.equal(j.code, 250);
  assert.equal(j.enhanced, '2.1.5');
  assert.equal(j.kind, 'relay');
  assert.equal(j.stage, 'rcpt');
  assert.ok(Array.isArray(j.trail) && j.trail.some((l: string) => l.includes('"office"')));

  const stranger = await explain(['--client', '203.0.113.9', '--to', 'someone@remote.example']);
  assert.equal(stranger.status, 1);
  const s = JSON.parse(stranger.stdout);
  assert.deepEqual([s.action, s.code, s.enhanced, s.kind, s.stage], ['reject', 554, '5.7.1', null, 'rcpt']);
  assert.ok(s.trail.some((l: string) => l.startsWith('rule 4')));

  const inbound = JSON.parse((await explain(['--client', '203.0.113.9', '--to', 'info@EXAMPLE.COM.'])).stdout);
  assert.deepEqual([inbound.action, inbound.kind], ['accept', 'inbound']);

  const mapped = JSON.parse((await explain(['--client', '::ffff:10.1.2.3', '--to', 'someone@remote.example'])).stdout);
  assert.equal(mapped.kind, 'relay');
});

test('explain: blacklist at connect, authenticated relay by user and group, exit statuses', async () => {
  const black = await explain(['--client', '198.51.100.7', '--to', 'info@example.com']);
  assert.equal(black.status, 1);
  assert.deepEqual(((j) => [j.stage, j.code, j.enhanced])(JSON.parse(black.stdout)), ['connect', 554, '5.7.1']);

  const alice = await explain(['--client', '203.0.113.9', '--user', 'alice', '--to', 'x@remote.example']);
  assert.equal(alice.status, 0, alice.stdout);
  assert.equal(JSON.parse(alice.stdout).relay_right, 'auth');

  const bob = await explain(['--client', '203.0.113.9', '--user', 'bob', '--to', 'x@remote.example']);
  assert.equal(bob.status, 1);
  assert.deepEqual(((j) => [j.stage, j.code, j.enhanced])(JSON.parse(bob.stdout)), ['auth', 535, '5.7.8']);

  const sub = await explain(['--client', '10.1.2.3', '--listener', 'submission', '--to', 'x@remote.example']);
  assert.deepEqual(((j) => [j.stage, j.code])(JSON.parse(sub.stdout)), ['mail', 530]);

  assert.equal((await explain(['--client', '010.1.2.3', '--to', 'x@remote.example'])).status, 2);
  assert.equal((await explain(['--client', '10.1.2.3', '--listener', 'nope', '--to', 'x@remote.example'])).status, 2);
  assert.equal((await mailwarden(['policy', 'explain', '--config', EXAMPLE, '--to', 'x@y.example'])).status, 2, 'missing --client');
  assert.equal((await mailwarden(['policy', 'explain', '--config', '/nonexistent.yaml', '--client', '10.1.2.3', '--to', 'x@y.example'])).status, 2);
  assert.equal((await mailwarden(['policy', 'explain', '--bogus'])).status, 2);
});

test('explain reads the installation with --data', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const local = JSON.parse((await mailwarden(['policy', 'explain', '--data', data, '--client', '127.0.0.1', '--to', 'a@b.example', '--json'])).stdout);
  assert.deepEqual([local.action, local.kind, local.revision], ['accept', 'relay', 1]);
  const other = await mailwarden(['policy', 'explain', '--data', data, '--client', '127.0.0.2', '--to', 'a@b.example', '--json']);
  assert.equal(other.status, 1);
});

test('test-open-relay: exit 0 when nothing relays, 1 when something does', async (t) => {
  const closed = await mailwarden(['policy', 'test-open-relay', '--config', EXAMPLE, '--client', '203.0.113.9']);
  assert.equal(closed.status, 0, closed.stdout + closed.stderr);
  assert.doesNotMatch(closed.stdout, /RELAYED/);
  assert.match(closed.stdout, /no address of \d+ would be relayed/);

  const relayHost = await mailwarden(['policy', 'test-open-relay', '--config', EXAMPLE, '--client', '10.1.2.3', '--json']);
  assert.equal(relayHost.status, 1);
  const j = JSON.parse(relayHost.stdout);
  assert.ok(j.relayed > 0);
  assert.ok(j.results.find((r: { to: string; relayed: boolean }) => r.to === 'user@victim.example').relayed);

  // An acknowledged open relay relays for anyone: the test must say so.
  const dir = tempDir(t);
  const file = join(dir, 'open.yaml');
  writeFileSync(file, 'hostname: mx.example.com\nnetworks: []\ndomains: [{ name: example.com, route: { hosts: ["10.1.2.3"] } }]\nrelaying: { allowed_hosts: [Any], open_relay_acknowledged: true }\n');
  const open = await mailwarden(['policy', 'test-open-relay', '--config', file, '--client', '203.0.113.9']);
  assert.equal(open.status, 1);
  assert.match(open.stdout, /RELAYED/);
});

// Issue #13: a client in a trusted proxy range chooses the client address every rule sees.
const PROXIED = `hostname: mx.example.com
listeners: [{ name: mx, address: 127.0.0.1, port: 2525, mode: mx, trusted_proxies: [lb] }]
networks: [{ name: lb, type: host, address: 10.0.0.5 }, { name: office, type: network, address: 10.1.0.0/16 }]
domains: [{ name: example.com, route: { hosts: ["10.1.2.3"] } }]
relaying: { allowed_hosts: [office] }
`;

test('test-open-relay reports the trusted proxy ranges; explain follows the proxy path', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'proxied.yaml');
  writeFileSync(file, PROXIED);

  const outside = await mailwarden(['policy', 'test-open-relay', '--config', file, '--client', '203.0.113.9']);
  assert.equal(outside.status, 0, outside.stdout + outside.stderr);
  assert.match(outside.stdout, /no address of 17 would be relayed for 203\.0\.113\.9\n/);
  assert.match(outside.stdout, /^trusted proxies \(a client there chooses the address every rule sees\):\nRELAYED  listener "mx", "lb" \(10\.0\.0\.5\): [1-9]\d* of 17 addresses would be relayed from 10\.0\.0\.5, claiming relay host 10\.1\.0\.0$/m);
  const json = JSON.parse((await mailwarden(['policy', 'test-open-relay', '--config', file, '--client', '203.0.113.9', '--json'])).stdout);
  assert.deepEqual(json.proxies.map((p: { listener: string; network: string; claims: string }) => [p.listener, p.network, p.claims]), [['mx', 'lb', '10.1.0.0']]);
  assert.ok(json.proxies[0].relayed > 0);

  const lb = await mailwarden(['policy', 'test-open-relay', '--config', file, '--client', '10.0.0.5']);
  assert.equal(lb.status, 1, 'a client in the proxy range relays');
  assert.match(lb.stdout, /[1-9]\d* of 17 addresses would be relayed for 10\.0\.0\.5 \(a trusted proxy of listener "mx", claiming relay host 10\.1\.0\.0\)/);

  const x = await mailwarden(['policy', 'explain', '--config', file, '--client', '10.0.0.5', '--to', 'someone@remote.example', '--json']);
  assert.equal(x.status, 0, x.stdout + x.stderr);
  const j = JSON.parse(x.stdout);
  assert.deepEqual([j.action, j.kind, j.relay_right], ['accept', 'relay', 'host']);
  assert.deepEqual(j.proxy, { listener: 'mx', entry: '"lb"', claims: '10.1.0.0', claims_as: 'relay host' });
  const text = await mailwarden(['policy', 'explain', '--config', file, '--client', '10.0.0.5', '--to', 'someone@remote.example']);
  assert.match(text.stdout, /- client 10\.0\.0\.5 is a trusted proxy of listener "mx" \(trusted_proxies: "lb"\)/);

  // The setting: 64.0.0.0/2 as the proxy range is refused, and acknowledged it is reported as relaying.
  const wide = join(dir, 'wide.yaml');
  writeFileSync(wide, PROXIED.replace('{ name: lb, type: host, address: 10.0.0.5 }', '{ name: lb, type: network, address: 64.0.0.0/2 }'));
  const refused = await mailwarden(['policy', 'test-open-relay', '--config', wide, '--client', '203.0.113.9']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /listeners\[0\] \("mx"\)\.trusted_proxies: this would make an open relay/);
  writeFileSync(wide, PROXIED.replace('{ name: lb, type: host, address: 10.0.0.5 }', '{ name: lb, type: network, address: 64.0.0.0/2 }').replace('allowed_hosts: [office]', 'allowed_hosts: [office], open_relay_acknowledged: true'));
  const acked = await mailwarden(['policy', 'test-open-relay', '--config', wide, '--client', '64.1.2.3']);
  assert.equal(acked.status, 1);
  assert.match(acked.stdout, /^RELAYED  listener "mx", "lb" \(64\.0\.0\.0-127\.255\.255\.255\): [1-9]\d* of 17 addresses would be relayed from 64\.0\.0\.0/m);
});

test('status names the trusted proxies and, when they open the relay, says so', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const file = join(tempDir(t), 'wide.yaml');
  writeFileSync(file, PROXIED.replace('{ name: lb, type: host, address: 10.0.0.5 }', '{ name: lb, type: network, address: 64.0.0.0/2 }').replace('allowed_hosts: [office]', 'allowed_hosts: [office], open_relay_acknowledged: true'));
  const applied = await mailwarden(['config', 'import', file, '--data', data]);
  assert.equal(applied.status, 0, applied.stdout + applied.stderr);
  const status = await mailwarden(['status', '--data', data]);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /^listener mx: 127\.0\.0\.1:2525 \(mx\), PROXY headers from lb$/m);
  assert.match(status.stdout, /^OPEN RELAY \(acknowledged\): listeners\[0\]\.trusted_proxies: "lb" lets \d+ public IPv4 addresses send a PROXY header/m);
});
