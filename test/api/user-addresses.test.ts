// A user's sender addresses (users[].addresses, for relaying.sender_login)
// through the REST API: taken on POST and PUT, returned by GET, [] removes
// them, a bad one is a 422 naming its path and changes nothing; and
// /api/settings/relaying carries sender_login and header_from_login.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startWithApi } from './client.ts';

test('users[].addresses and the sender binding through the API', async (t) => {
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const call = (method: string, path: string, body?: unknown) => api.call(method, path, { body, as: me });
  const addressesOf = async (name: string) => ((await call('GET', '/api/users')).json as { name: string; addresses?: string[] }[]).find((u) => u.name === name)?.addresses;

  assert.equal((await call('POST', '/api/users', { name: 'kai', password: 'kai-password-1', addresses: ['kai@example.com'] })).status, 201);
  assert.deepEqual(await addressesOf('kai'), ['kai@example.com']);

  assert.equal((await call('PUT', '/api/users/kai', { addresses: ['kai@example.com', '@example.org'] })).status, 200);
  assert.deepEqual(await addressesOf('kai'), ['kai@example.com', '@example.org']);

  const bad = await call('PUT', '/api/users/kai', { addresses: ['kai@example.com', 'kai@[192.0.2.1]'] });
  assert.equal(bad.status, 422, bad.text);
  assert.deepEqual(bad.json.errors.map((e: { path: string }) => e.path), ['users[0].addresses[1]']);
  assert.deepEqual(await addressesOf('kai'), ['kai@example.com', '@example.org'], 'nothing changed');

  // Other changes leave the addresses alone; [] removes them.
  assert.equal((await call('PUT', '/api/users/kai', { enabled: false })).status, 200);
  assert.deepEqual(await addressesOf('kai'), ['kai@example.com', '@example.org']);
  assert.equal((await call('PUT', '/api/users/kai', { addresses: [] })).status, 200);
  assert.equal(await addressesOf('kai'), undefined);

  const rel = (await call('GET', '/api/settings/relaying')).json as { revision: number; value: Record<string, unknown> };
  assert.equal(rel.value.sender_login, 'off', 'the test document has no key: off, as after an upgrade');
  assert.equal(rel.value.header_from_login, true);
  const put = await call('PUT', '/api/settings/relaying', { value: { ...rel.value, sender_login: 'address' }, revision: rel.revision });
  assert.equal(put.status, 200, put.text);
  assert.equal(((await call('GET', '/api/settings/relaying')).json as { value: { sender_login: string } }).value.sender_login, 'address');
  const wrong = await call('PUT', '/api/settings/relaying', { value: { ...rel.value, sender_login: 'strict' } });
  assert.equal(wrong.status, 422);
  assert.match(JSON.stringify(wrong.json.errors), /relaying\.sender_login.*one of off, domain, address/);
});
