// Safe changes over the API (issue #17): the preview of a rollback (GET
// /api/revisions/:n/rollback: what it would add, change and remove, nothing
// applied), a rollback confirmed against the previewed revision (409 when
// another change landed since), and an edit that only sends an empty
// optional field, which changes nothing and records no revision.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startWithApi, type ApiClient, type Caller } from './client.ts';

async function session(t: Parameters<typeof startWithApi>[0]): Promise<{ api: ApiClient; me: Caller }> {
  const { api, password } = await startWithApi(t);
  return { api, me: await api.login('admin', password) };
}

const paths = (changes: { path: string; op: string }[]) => changes.map((c) => `${c.op} ${c.path}`).sort();

test('the preview of a rollback lists what it would add, change and remove, applies nothing; the confirmed rollback does exactly that', async (t) => {
  const { api, me } = await session(t);
  const call = async (method: string, path: string, body?: unknown, expect = 200) => {
    const r = await api.call(method, path, { body, as: me });
    assert.equal(r.status, expect, `${method} ${path}: ${r.text}`);
    return r.json;
  };
  // Revision 1: the defaults. Then a user with a new group, a domain, a network object and a limit.
  await call('POST', '/api/users', { name: 'bob', password: 'bob-secret-1', groups: ['sales'] }, 201);
  await call('POST', '/api/domains', { name: 'example.org', route: { hosts: ['10.0.0.25:25'] } }, 201);
  await call('POST', '/api/networks', { name: 'office', type: 'network', address: '10.1.0.0/16' }, 201);
  const limits = (await call('GET', '/api/settings/limits')).value;
  await call('PUT', '/api/settings/limits', { value: { ...limits, max_recipients: 50 } });
  const before = await call('GET', '/api/revisions');
  assert.equal(before.active, 5);

  const preview = await call('GET', '/api/revisions/1/rollback');
  assert.equal(preview.revision, 1);
  assert.equal(preview.active, 5, 'the revision it was made against');
  assert.equal(preview.ok, true);
  assert.deepEqual(paths(preview.changes), [
    'changed limits.max_recipients',
    'removed domains["example.org"]',
    'removed groups["sales"]',
    'removed networks["office"]',
    'removed users["bob"]',
  ]);
  assert.deepEqual(preview.secrets, [], 'bob is not in revision 1: no password of his is brought back');
  assert.doesNotMatch(JSON.stringify(preview), /password|scrypt/, 'no secret in the preview');
  assert.deepEqual(await call('GET', '/api/revisions'), before, 'a preview applies nothing');

  // A viewer may look at the preview, not roll back.
  await call('POST', '/api/admins', { name: 'olga', password: 'viewer-pass-1', role: 'viewer' }, 201);
  const viewer = await api.login('olga', 'viewer-pass-1');
  const seen = await api.call('GET', '/api/revisions/1/rollback', { as: viewer });
  assert.equal(seen.status, 200);
  assert.deepEqual(seen.json.changes, preview.changes);
  assert.equal((await api.call('POST', '/api/revisions/1/rollback', { body: { revision: 5 }, as: viewer })).status, 403);

  const done = await call('POST', '/api/revisions/1/rollback', { revision: preview.active, comment: 'back to the defaults' });
  assert.equal(done.revision.number, 6);
  assert.deepEqual(done.changes, preview.changes, 'what was previewed is what was applied');
  assert.deepEqual(await call('GET', '/api/users'), []);
});

test('the preview names the passwords a rollback would bring back, never their values', async (t) => {
  const { api, me } = await session(t);
  assert.equal((await api.call('POST', '/api/users', { body: { name: 'bob', password: 'bob-secret-1', groups: [] }, as: me })).status, 201);
  assert.equal((await api.call('PUT', '/api/users/bob', { body: { password: 'bob-secret-2' }, as: me })).status, 200);
  const preview = await api.call('GET', '/api/revisions/2/rollback', { as: me });
  assert.equal(preview.status, 200, preview.text);
  assert.deepEqual(preview.json.changes, [], 'the diff leaves secrets out');
  assert.deepEqual(preview.json.secrets, ['users["bob"].password']);
  assert.doesNotMatch(preview.text, /scrypt|bob-secret/);
});

test('a rollback confirmed against a revision that is no longer active is refused (409) and changes nothing', async (t) => {
  const { api, me } = await session(t);
  assert.equal((await api.call('POST', '/api/networks', { body: { name: 'a', type: 'host', address: '10.0.0.1' }, as: me })).status, 201);
  const preview = (await api.call('GET', '/api/revisions/1/rollback', { as: me })).json;
  assert.equal(preview.active, 2);
  // A colleague's change lands after the preview.
  assert.equal((await api.call('POST', '/api/networks', { body: { name: 'b', type: 'host', address: '10.0.0.2' }, as: me })).status, 201);
  const stale = await api.call('POST', '/api/revisions/1/rollback', { body: { revision: preview.active }, as: me });
  assert.equal(stale.status, 409, stale.text);
  assert.match(stale.json.message, /changed since revision 2/);
  assert.deepEqual((await api.call('GET', '/api/networks', { as: me })).json.map((n: { name: string }) => n.name), ['localhost', 'a', 'b']);
  assert.equal((await api.call('GET', '/api/revisions/99/rollback', { as: me })).status, 404);
  assert.equal((await api.call('POST', '/api/revisions/1/rollback', { body: { revision: 'x' }, as: me })).status, 400);
  assert.equal((await api.call('POST', '/api/revisions/1/rollback', { body: { revision: 3, extra: 1 }, as: me })).status, 400);
});

test('an edit that only sends an empty optional field ("" for no comment) changes nothing and records no revision', async (t) => {
  const { api, me } = await session(t);
  assert.equal((await api.call('POST', '/api/users', { body: { name: 'bob', password: 'bob-secret-1', groups: [] }, as: me })).status, 201);
  assert.equal((await api.call('POST', '/api/networks', { body: { name: 'lab', type: 'host', address: '10.0.0.9' }, as: me })).status, 201);
  const before = (await api.call('GET', '/api/revisions', { as: me })).json;

  const user = await api.call('PUT', '/api/users/bob', { body: { groups: [], enabled: true, comment: '' }, as: me });
  assert.equal(user.status, 200, user.text);
  assert.deepEqual([user.json.changes, user.json.revision], [[], null]);
  const net = await api.call('PUT', '/api/networks/lab', { body: { name: 'lab', type: 'host', address: '10.0.0.9', comment: '' }, as: me });
  assert.deepEqual([net.status, net.json.changes, net.json.revision], [200, [], null]);
  assert.deepEqual((await api.call('GET', '/api/revisions', { as: me })).json, before, 'no revision recorded');
  assert.equal('comment' in (await api.call('GET', '/api/users/bob', { as: me })).json, false);

  // A comment set and then cleared is a change each time: added, then removed.
  const set = await api.call('PUT', '/api/users/bob', { body: { comment: 'sales desk' }, as: me });
  assert.deepEqual(paths(set.json.changes), ['added users["bob"].comment']);
  const cleared = await api.call('PUT', '/api/users/bob', { body: { comment: '' }, as: me });
  assert.deepEqual(cleared.json.changes, [{ path: 'users["bob"].comment', op: 'removed', before: 'sales desk' }]);
  assert.equal('comment' in (await api.call('GET', '/api/users/bob', { as: me })).json, false);
});
