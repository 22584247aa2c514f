// /api/directories against the real daemon and the real slapd: add, list,
// change and remove a directory (each a revision; the bind password never
// sent out, kept on a change that leaves it out); "test connection" of a
// saved directory and of an unsaved definition finds the user, lists its
// groups (nested ones too) and shows the filter sent; failures are in an
// administrator's words; a viewer can neither test nor change.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startWithApi } from './client.ts';
import { BASE_DN, READER_DN, READER_PASSWORD, slapdMissing, startSlapd } from '../support/slapd.ts';
import { freePort } from '../smtp/harness.ts';

const skip = slapdMissing();

test('directories over the API, and test connection against slapd', { skip }, async (t) => {
  const slapd = await startSlapd(t);
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const corp = { name: 'corp', url: slapd.url, ca: slapd.caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD };

  await t.test('add: a revision; listed without the password, with has_bind_password', async () => {
    const r = await api.call('POST', '/api/directories', { body: corp, as: me });
    assert.equal(r.status, 201, r.text);
    assert.ok(r.json.revision);
    const list = await api.call('GET', '/api/directories', { as: me });
    assert.equal(list.status, 200);
    assert.equal(list.text.includes(READER_PASSWORD), false);
    assert.deepEqual(list.json, [{ name: 'corp', type: 'ldap', url: slapd.url, ca: slapd.caFile, base_dn: BASE_DN, bind_dn: READER_DN, user_filter: '(&(objectClass=inetOrgPerson)(uid={login}))', group_member_attribute: 'member', nested_group_depth: 5, mail_attributes: ['mail'], tls: 'starttls', timeout: '5s', cache: '5m', has_bind_password: true }]);
    const settings = await api.call('GET', '/api/settings', { as: me });
    assert.equal(settings.text.includes(READER_PASSWORD), false);
    assert.equal((await api.call('POST', '/api/directories', { body: corp, as: me })).status, 409);
  });

  await t.test('test connection of the saved directory: bound, the user found, its groups, the filter sent', async () => {
    const r = await api.call('POST', '/api/directories/test', { body: { name: 'corp', login: 'carol' }, as: me });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, true);
    assert.deepEqual(r.json.steps.map((s: { step: string }) => s.step), ['connect', 'bind', 'base', 'user', 'groups']);
    assert.match(r.json.steps[0].text, /^connected to 127\.0\.0\.1:\d+ \(StartTLS, certificate checked against .*ca\.pem\)$/);
    assert.equal(r.json.steps[1].text, `bound as ${READER_DN}`);
    assert.deepEqual([...r.json.user.groups].sort(), ['corp:devs', 'corp:relay-users']);
    assert.deepEqual(r.json.user.addresses, ['carol@example.test']);
    assert.equal(r.json.user.dn, `uid=carol,ou=people,${BASE_DN}`);
    assert.deepEqual(r.json.filters, { user: '(&(objectClass=inetOrgPerson)(uid=carol))', group: `(member=uid=carol,ou=people,${BASE_DN})` });
  });

  await t.test('the password is kept on a change that leaves it out (and the change still works)', async () => {
    const { bind_password: _p, ...rest } = corp;
    const r = await api.call('PUT', '/api/directories/corp', { body: { ...rest, timeout: '3s' }, as: me });
    assert.equal(r.status, 200, r.text);
    const t2 = await api.call('POST', '/api/directories/test', { body: { name: 'corp', login: 'alice' }, as: me });
    assert.equal(t2.json.ok, true, t2.text);
    // An unsaved edit of it without the password: the saved one is used.
    const t3 = await api.call('POST', '/api/directories/test', { body: { directory: { ...rest, nested_group_depth: 0 }, login: 'carol' }, as: me });
    assert.equal(t3.json.ok, true, t3.text);
    assert.deepEqual(t3.json.user.groups, ['corp:devs']);
    // To another server, the password must be given again.
    const moved = await api.call('PUT', '/api/directories/corp', { body: { ...rest, url: 'ldap://127.0.0.2:389' }, as: me });
    assert.equal(moved.status, 422);
    assert.match(JSON.stringify(moved.json.errors), /bind_dn needs its password/);
  });

  await t.test('failures in words: a wrong service password, nobody found, a wrong CA, nothing listening, an invalid definition', async () => {
    const call = (body: unknown) => api.call('POST', '/api/directories/test', { body, as: me });
    const bad = await call({ directory: { ...corp, bind_password: 'nope' }, login: 'alice' });
    assert.equal(bad.json.ok, false);
    assert.match(bad.json.steps.at(-1).text, /^the directory refused bind_dn "cn=reader,dc=example,dc=test" and its password/);
    const nobody = await call({ name: 'corp', login: '*)(uid=*' });
    assert.equal(nobody.json.ok, false);
    assert.equal(nobody.json.steps.at(-1).text, `no entry under ${BASE_DN} matches (&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))`);
    const ca = await call({ directory: { ...corp, ca: slapd.otherCaFile } });
    assert.match(ca.json.steps[0].text, /^the directory's certificate is not trusted/);
    const port = await freePort();
    const dead = await call({ directory: { ...corp, name: 'dead', url: `ldap://127.0.0.1:${port}` } });
    assert.equal(dead.json.steps[0].text, `nothing answers at 127.0.0.1:${port} (connection refused)`);
    const invalid = await call({ directory: { ...corp, tls: 'ldaps' } });
    assert.equal(invalid.status, 422);
    assert.match(invalid.json.message, /^tls: ldaps needs an ldaps:\/\/ URL/);
    assert.equal((await call({ login: 'x' })).status, 400);
    assert.equal((await call({ name: 'other' })).status, 404);
  });

  await t.test('a viewer reads the list but can neither test nor change', async () => {
    assert.equal((await api.call('POST', '/api/admins', { body: { name: 'vera', password: 'viewer-pass-1', role: 'viewer' }, as: me })).status, 201);
    const viewer = await api.login('vera', 'viewer-pass-1');
    assert.equal((await api.call('GET', '/api/directories', { as: viewer })).status, 200);
    assert.equal((await api.call('POST', '/api/directories/test', { body: { name: 'corp' }, as: viewer })).status, 403);
    assert.equal((await api.call('DELETE', '/api/directories/corp', { as: viewer })).status, 403);
  });

  await t.test('remove: refused while the relay rules name its groups, then done', async () => {
    const relaying = (await api.call('GET', '/api/settings/relaying', { as: me })).json.value;
    const named = await api.call('PUT', '/api/settings/relaying', { body: { value: { ...relaying, authenticated_relay: { enabled: true, users: [], groups: ['corp:relay-users'] } } }, as: me });
    assert.equal(named.status, 200, named.text);
    const refused = await api.call('DELETE', '/api/directories/corp', { as: me });
    assert.equal(refused.status, 422);
    assert.match(JSON.stringify(refused.json.errors), /unknown directory \\"corp\\" in \\"corp:relay-users\\"/);
    await api.call('PUT', '/api/settings/relaying', { body: { value: relaying }, as: me });
    assert.equal((await api.call('DELETE', '/api/directories/corp', { as: me })).status, 200);
    assert.deepEqual((await api.call('GET', '/api/directories', { as: me })).json, []);
  });
});
