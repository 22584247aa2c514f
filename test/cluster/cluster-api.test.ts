// The cluster through the REST API, with two real daemons on one private
// PostgreSQL: two nodes starting at once on an empty store create the first
// admin account once (only one prints a password), GET /api/cluster lists
// both nodes (viewer role), and the dashboard's statistics say when the store
// cannot be reached, and again when it is back.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { RawClient, relayDoc, startNode, tempDataDir, type Relay } from '../smtp/harness.ts';
import { ApiClient, onStderr, startWithApi } from '../api/client.ts';
import { hostname } from 'node:os';
import { mailwarden } from '../cli/helpers.ts';

const missing = postgresMissing();
let server: TestPostgres | null = null;

before(async () => {
  if (!missing) server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

test('two nodes starting at once on an empty store: one first admin, one password shown; /api/cluster lists both (viewer); the dashboard says when the store is away', { skip: missing ?? false }, async (t) => {
  assert.ok(server);
  const url = await server.createDatabase();
  const { doc } = await relayDoc({ admin: { enabled: true, address: '127.0.0.1', port: 0 } });
  const start = (name: string): Promise<Relay> => {
    const dataDir = tempDataDir(t);
    const file = join(dataDir, 'settings.yaml');
    writeFileSync(file, stringify(doc));
    return startNode(t, { args: ['start', '--data', dataDir, '--store', url, '--node', name, '--config', file], dataDir });
  };
  const [a, b] = await Promise.all([start('alpha'), start('beta')]);
  const created = [a, b].filter((n) => n.logs.some((l) => l.event === 'admin.created'));
  assert.equal(created.length, 1, 'exactly one node created the first admin');
  const maker = created[0]!;
  const other = maker === a ? b : a;
  const password = await onStderr(maker, () => /with the password\n\n {4}(\S+)\n/.exec(maker.stderr())?.[1] ?? null);
  assert.doesNotMatch(other.stderr(), /with the password/, 'the other node shows no password');

  // A viewer made by the CLI from anywhere, logged in on the node that did not make the first admin: the accounts are shared.
  const viewer = await mailwarden(['admin', 'add', 'watcher', '--role', 'viewer', '--password-stdin', '--store', url, '--data', tempDataDir(t)], { input: 'Watcher-pw-1234\n' });
  assert.equal(viewer.status, 0, viewer.stderr);
  const api = new ApiClient(other.adminPort ?? 0, readFileSync(join(other.dataDir, 'tls', 'cert.pem')));
  const admin = await api.login('admin', password);
  assert.equal(admin.answer.status, 200, admin.answer.text);
  const me = await api.login('watcher', 'Watcher-pw-1234');
  assert.equal(me.answer.status, 200);
  const c = await api.call('GET', '/api/cluster', { as: me });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.store, 'postgresql');
  assert.deepEqual(c.json.store_state, { kind: 'postgresql', reachable: true });
  assert.deepEqual(c.json.nodes.map((n: { name: string; healthy: boolean }) => [n.name, n.healthy]), [['alpha', true], ['beta', true]]);
  const mx = c.json.nodes.find((n: { name: string }) => n.name === 'alpha').listeners.find((l: { name: string }) => l.name === 'mx');
  assert.equal(mx.port, a.ports.mx, 'the bound port, not the configured 0');
  const s = await api.call('GET', '/api/stats', { as: me });
  assert.deepEqual(s.json.store, { kind: 'postgresql', reachable: true });

  // The database goes away: a transaction finds it (451), and the dashboard says so without failing.
  await server.stop('fast');
  let restarted = false;
  t.after(async () => {
    if (!restarted) await server?.start();
  });
  // At once, before the queue has met the outage: the 503 answers because the store could not be reached, so
  // its body says unreachable (the queue's last view still said reachable).
  const first = await api.call('GET', '/api/stats', { as: { token: null, cookie: me.cookie, csrf: me.csrf } });
  assert.equal(first.status, 503, first.text);
  assert.deepEqual(first.json.store, { kind: 'postgresql', reachable: false }, 'the first 503 after the stop says unreachable');
  const client = await RawClient.connect(other.ports.mx);
  t.after(() => client.end());
  await client.reply();
  await client.cmd('EHLO client.example');
  await client.cmd('MAIL FROM:<a@example.net>');
  await client.cmd('RCPT TO:<someone@example.com>');
  await client.cmd('DATA');
  assert.match((await client.cmd('Subject: away\r\n\r\nx\r\n.')) ?? '', /^451 4\.3\.0 /);
  await other.waitLog((l) => l.event === 'store.unreachable', 15_000);

  const away = await api.call('GET', '/api/stats', { as: { token: null, cookie: me.cookie, csrf: me.csrf } });
  // Without the store no session can be checked: the API refuses (fail closed) and says why, for the web admin to show.
  assert.equal(away.status, 503, away.text);
  assert.match(away.json.message, /the cluster store \(PostgreSQL\) cannot be reached/);
  assert.deepEqual(away.json.store, { kind: 'postgresql', reachable: false });
  await server.start();
  restarted = true;
  await other.waitLog((l) => l.event === 'store.reachable', 20_000);
  const back = await api.call('GET', '/api/stats', { as: me });
  assert.equal(back.status, 200, back.text);
  assert.deepEqual(back.json.store, { kind: 'postgresql', reachable: true });
});

test('on the embedded store GET /api/cluster lists this node (its registry is in memory) and /api/stats says the store is embedded and reachable', async (t) => {
  const { api, password, relay } = await startWithApi(t);
  const me = await api.login('admin', password);
  const c = await api.call('GET', '/api/cluster', { as: me });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.store, 'embedded');
  assert.deepEqual(c.json.store_state, { kind: 'embedded', reachable: true });
  assert.equal(c.json.nodes.length, 1);
  assert.equal(c.json.nodes[0].name, hostname());
  assert.equal(c.json.nodes[0].healthy, true);
  assert.equal(c.json.nodes[0].listeners.find((l: { name: string }) => l.name === 'mx').port, relay.ports.mx);
  const s = await api.call('GET', '/api/stats', { as: me });
  assert.deepEqual(s.json.store, { kind: 'embedded', reachable: true });
  assert.equal(typeof s.json.queue.size, 'number');
});
