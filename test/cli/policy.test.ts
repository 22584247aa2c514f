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
