// The admin listener's security (issue #8): HTTPS with the SMTP certificate,
// 401 without a session or token, the session cookie's attributes, CSRF on
// every change, viewers read but never change (403), API tokens (created,
// used without CSRF, revoked), logins throttled per address, the first
// admin's password shown once, and every change recording who made it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN, restartRelay, runCli } from '../smtp/harness.ts';
import { ApiClient, startWithApi } from './client.ts';

test('401 without a session or token; the OpenAPI document is public; login sets a Secure HttpOnly SameSite=Strict cookie', async (t) => {
  const { api, password } = await startWithApi(t);
  for (const [method, path] of [['GET', '/api/settings'], ['GET', '/api/queue'], ['POST', '/api/networks'], ['GET', '/api/log'], ['DELETE', '/api/queue/aaaaaaaaaaaaaaaa'], ['GET', '/api/stats']] as const) {
    const a = await api.call(method, path, method === 'POST' ? { body: { name: 'x', type: 'host', address: '10.0.0.1' } } : {});
    assert.equal(a.status, 401, `${method} ${path}`);
  }
  // The route decides, not the spelling of the URL: encoded or doubled paths get no further.
  for (const path of ['/%61pi/settings', '/%61%70%69/queue', '/api/%73ettings', '/api//settings', '/api/settings/', '/api/nonexistent', '/%2e/api/settings']) {
    const a = await api.call('GET', path);
    // 401, 404, or (for a path that is not under /api once resolved) the app's login page: never API data.
    assert.ok(a.status === 401 || a.status === 404 || a.text.startsWith('<!doctype html>'), `${path}: ${a.status} ${a.text.slice(0, 80)}`);
    assert.doesNotMatch(a.text, /"document"|"revision"/, path);
  }
  // Static files: only what is in web/dist; a missing one is a 404, not the app's page.
  assert.equal((await api.call('GET', '/assets/../../../package.json')).status === 200 && (await api.call('GET', '/assets/../../../package.json')).text.includes('"dependencies"'), false);
  assert.equal((await api.call('GET', '/%2e%2e/%2e%2e/package.json')).text.includes('"dependencies"'), false);
  assert.equal((await api.call('GET', '/no-such-file.js')).status, 404);
  const doc = await api.call('GET', '/api/openapi.json');
  assert.equal(doc.status, 200);
  for (const p of ['/api/networks', '/api/settings/{section}', '/api/queue/{id}/retry', '/api/revisions/{n}/rollback', '/api/policy/explain', '/api/quarantine/{id}/release']) assert.ok(p in doc.json.paths, p);

  const bad = await api.login('admin', 'wrong password');
  assert.equal(bad.answer.status, 401);
  assert.equal(bad.cookie, null);
  const me = await api.login('admin', password);
  assert.equal(me.answer.status, 200);
  assert.deepEqual({ name: me.answer.json.name, role: me.answer.json.role }, { name: 'admin', role: 'admin' });
  const cookie = String((me.answer.headers['set-cookie'] as string[])[0]);
  assert.match(cookie, /^mw_session=[A-Za-z0-9_-]{43}; /);
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; Secure/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.equal((await api.call('GET', '/api/settings', { as: me })).status, 200);
  // A forged cookie is nobody.
  assert.equal((await api.call('GET', '/api/settings', { as: { cookie: 'mw_session=forged' } })).status, 401);
});

test('changes need the CSRF token of the session; logout ends the session', async (t) => {
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const net = { name: 'office', type: 'network', address: '10.1.0.0/16' };
  assert.equal((await api.call('POST', '/api/networks', { body: net, as: { cookie: me.cookie } })).status, 403, 'no token');
  const wrong = await api.call('POST', '/api/networks', { body: net, as: { cookie: me.cookie, csrf: 'x'.repeat(32) } });
  assert.equal(wrong.status, 403);
  assert.match(wrong.json.message, /X-CSRF-Token/);
  assert.equal((await api.call('GET', '/api/networks/office', { as: me })).status, 404, 'nothing was created');
  const ok = await api.call('POST', '/api/networks', { body: net, as: me });
  assert.equal(ok.status, 201);
  assert.equal(ok.json.revision.author, 'admin:admin', 'the revision says who');
  assert.equal((await api.call('POST', '/api/logout', { as: me })).status, 200);
  assert.equal((await api.call('GET', '/api/settings', { as: me })).status, 401);
});

test('a viewer reads everything and changes nothing (403); a viewer cannot mint an admin token', async (t) => {
  const { api, password, relay } = await startWithApi(t);
  const admin = await api.login('admin', password);
  assert.equal((await api.call('POST', '/api/admins', { body: { name: 'olga', password: 'viewer-pass-1', role: 'viewer' }, as: admin })).status, 201);
  assert.equal((await api.call('POST', '/api/admins', { body: { name: 'olga', password: 'viewer-pass-1', role: 'viewer' }, as: admin })).status, 409);
  const viewer = await api.login('olga', 'viewer-pass-1');
  assert.equal(viewer.answer.json.role, 'viewer');
  for (const path of ['/api/settings', '/api/networks', '/api/revisions', '/api/queue', '/api/quarantine', '/api/stats', '/api/admins', '/api/settings/relaying']) {
    assert.equal((await api.call('GET', path, { as: viewer })).status, 200, path);
  }
  const changes: [string, string, unknown][] = [
    ['POST', '/api/networks', { name: 'x', type: 'host', address: '10.0.0.1' }],
    ['PUT', '/api/settings/relaying', { value: { allowed_hosts: ['localhost'] } }],
    ['POST', '/api/revisions/1/rollback', {}],
    ['POST', '/api/queue/retry', undefined],
    ['DELETE', '/api/admins/admin', undefined],
  ];
  for (const [method, path, body] of changes) {
    const a = await api.call(method, path, { as: viewer, ...(body === undefined ? {} : { body }) });
    assert.equal(a.status, 403, `${method} ${path}`);
  }
  // Asking is not changing: explain and validate work for a viewer.
  assert.equal((await api.call('POST', '/api/policy/explain', { body: { client: '127.0.0.1', to: 'a@example.com' }, as: viewer })).status, 200);
  assert.equal((await api.call('POST', '/api/settings/validate', { body: { document: {} }, as: viewer })).status, 200);
  const revisions = await api.call('GET', '/api/revisions', { as: viewer });
  assert.equal(revisions.json.revisions.length, 1, 'nothing changed');
  // A viewer's token can only be a viewer token (the CLI makes tokens too).
  const minted = await runCli(['admin', 'token', 'create', 'ci', '--owner', 'olga', '--role', 'admin', '--data', relay.dataDir]);
  assert.equal(minted.status, 1);
  assert.match(minted.stderr, /a viewer can only create viewer tokens/);
});

test('API tokens: Bearer without CSRF, recorded as the author; revoked → 401; an admin removed on the CLI is logged out at once', async (t) => {
  const { api, password, relay } = await startWithApi(t);
  const admin = await api.login('admin', password);
  const created = await api.call('POST', '/api/tokens', { body: { name: 'deploy', role: 'admin' }, as: admin });
  assert.equal(created.status, 201);
  const token = created.json.token as string;
  assert.match(token, /^mwt_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
  const listed = await api.call('GET', '/api/tokens', { as: admin });
  assert.ok(!listed.text.includes(token), 'the secret is never shown again');
  const add = await api.call('POST', '/api/groups', { body: { name: 'staff' }, as: { token } });
  assert.equal(add.status, 201);
  assert.equal(add.json.revision.author, 'token:deploy (admin)');
  // The token of a viewer token cannot change, even with the admin as owner.
  const ro = await api.call('POST', '/api/tokens', { body: { name: 'read', role: 'viewer' }, as: admin });
  assert.equal((await api.call('GET', '/api/groups', { as: { token: ro.json.token } })).status, 200);
  assert.equal((await api.call('POST', '/api/groups', { body: { name: 'x' }, as: { token: ro.json.token } })).status, 403);
  assert.equal((await api.call('DELETE', `/api/tokens/${created.json.info.id}`, { as: admin })).status, 200);
  assert.equal((await api.call('GET', '/api/groups', { as: { token } })).status, 401);
  assert.equal((await api.call('GET', '/api/groups', { as: { token: token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A') } })).status, 401);

  // A second admin, removed on the command line while logged in.
  assert.equal((await api.call('POST', '/api/admins', { body: { name: 'bob', password: 'bob-password-1', role: 'admin' }, as: admin })).status, 201);
  const bob = await api.login('bob', 'bob-password-1');
  assert.equal((await api.call('GET', '/api/me', { as: bob })).status, 200);
  const rm = await runCli(['admin', 'remove', 'bob', '--data', relay.dataDir]);
  assert.equal(rm.status, 0, rm.stderr);
  assert.equal((await api.call('GET', '/api/me', { as: bob })).status, 401);
  // The last admin cannot be removed, nor made a viewer.
  const last = await api.call('DELETE', '/api/admins/admin', { as: admin });
  assert.equal(last.status, 422);
  assert.match(last.json.message, /last admin/);
  assert.equal((await api.call('PUT', '/api/admins/admin', { body: { role: 'viewer' }, as: admin })).status, 422);
  // A new password: the other sessions of that admin end, the caller's stays.
  const other = await api.login('admin', password);
  const changed = await api.call('PUT', '/api/admins/admin', { body: { password: 'a-new-password-1' }, as: admin });
  assert.equal(changed.status, 200, changed.text);
  assert.equal((await api.call('GET', '/api/me', { as: other })).status, 401);
  assert.equal((await api.call('GET', '/api/me', { as: admin })).status, 200);
  assert.equal((await api.login('admin', 'a-new-password-1')).answer.status, 200);
  assert.equal((await api.call('PUT', '/api/admins/nobody', { body: { role: 'viewer' }, as: admin })).status, 404);
  // A password set on the command line ends the sessions made with the old one.
  const cliPasswd = await new Promise<number>((resolve) => {
    const child = spawn(BIN, ['admin', 'passwd', 'admin', '--password-stdin', '--data', relay.dataDir], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('exit', (code) => resolve(code ?? -1));
    child.stdin.end('set-on-the-cli-1\n');
  });
  assert.equal(cliPasswd, 0);
  assert.equal((await api.call('GET', '/api/me', { as: admin })).status, 401);
});

test('failed logins are throttled per client address (429 with Retry-After); other addresses are not affected', async (t) => {
  const { api, password } = await startWithApi(t);
  for (let i = 0; i < 5; i++) assert.equal((await api.login('admin', `wrong-${i}`, '127.0.0.44')).answer.status, 401);
  const blocked = await api.login('admin', password, '127.0.0.44');
  assert.equal(blocked.answer.status, 429, 'even the right password waits');
  assert.ok(Number(blocked.answer.headers['retry-after']) > 0);
  assert.equal((await api.login('admin', password, '127.0.0.45')).answer.status, 200);
  // Attempts at once are all counted: of 20 concurrent wrong logins, at most 5 are judged.
  const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => api.login('admin', `wrong-${i}`, '127.0.0.46')));
  assert.equal(burst.filter((b) => b.answer.status === 401).length, 5);
  assert.equal(burst.filter((b) => b.answer.status === 429).length, 15);
  // A success with another account does not wipe the failures before it.
  const admin = await api.login('admin', password, '127.0.0.45');
  assert.equal((await api.call('POST', '/api/admins', { body: { name: 'vic', password: 'viewer-pass-2', role: 'viewer' }, as: admin })).status, 201);
  for (let i = 0; i < 4; i++) assert.equal((await api.login('admin', `guess-${i}`, '127.0.0.47')).answer.status, 401);
  assert.equal((await api.login('vic', 'viewer-pass-2', '127.0.0.47')).answer.status, 200);
  assert.equal((await api.login('admin', 'guess-4', '127.0.0.47')).answer.status, 401);
  assert.equal((await api.login('admin', 'guess-5', '127.0.0.47')).answer.status, 429, 'the fifth failure blocks, the viewer login in between notwithstanding');
});

test('the first admin is created once: its password is on stderr at the first start only', async (t) => {
  const { relay, password, api } = await startWithApi(t);
  assert.equal((await api.login('admin', password)).answer.status, 200);
  const logLine = relay.logs.find((l) => l.event === 'admin.created');
  assert.ok(logLine && !JSON.stringify(logLine).includes(password), 'the log never has the password');
  assert.equal(await relay.stop(), 0);
  const again = await restartRelay(t, relay.dataDir, relay.ports);
  assert.doesNotMatch(again.stderr(), /First start/);
  assert.equal(again.logs.some((l) => l.event === 'admin.created'), false);
  // The admin listener is on port 0: the restarted daemon bound another.
  const api2 = new ApiClient(again.adminPort ?? 0, api.ca);
  assert.equal((await api2.login('admin', password)).answer.status, 200, 'the same password still works');
});
