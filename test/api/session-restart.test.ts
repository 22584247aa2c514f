// A web-admin login is kept in DATA/admin.db: it survives a restart of the
// daemon (and so would be valid on every node of a cluster), and still needs
// its CSRF token for a change.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { restartRelay } from '../smtp/harness.ts';
import { ApiClient, startWithApi } from './client.ts';

test('a web login survives a daemon restart', async (t) => {
  const { relay, api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  assert.equal(me.answer.status, 200, me.answer.text);
  assert.equal((await api.call('GET', '/api/me', { as: me })).status, 200);
  const ports = relay.ports;
  assert.equal(await relay.stop(), 0);

  const again = await restartRelay(t, relay.dataDir, ports);
  const port = again.adminPort;
  assert.ok(port, 'the admin listener is on after the restart');
  const api2 = new ApiClient(port, api.ca);
  const who = await api2.call('GET', '/api/me', { as: me });
  assert.equal(who.status, 200, who.text);
  assert.equal(who.json.name, 'admin');
  assert.equal(who.json.csrf, me.csrf);
  // A change still needs the session's CSRF token.
  const comment = { value: 'mx2.test.example', comment: 'after restart' };
  assert.equal((await api2.call('PUT', '/api/settings/hostname', { body: comment, as: { cookie: me.cookie } })).status, 403);
  assert.equal((await api2.call('PUT', '/api/settings/hostname', { body: comment, as: me })).status, 200);
  // Logging out ends it for good.
  assert.equal((await api2.call('POST', '/api/logout', { as: me })).status, 200);
  assert.equal((await api2.call('GET', '/api/me', { as: me })).status, 401);
});
