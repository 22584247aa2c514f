// The dashboard's statistics against a running daemon (issue #13): failed and
// successful SMTP AUTH attempts made by a real client (swaks) are counted in
// GET /api/stats; the open-relay flag follows the proxy path (a wide
// trusted_proxies is refused by the API, and acknowledged it raises the flag
// with its reason).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { swaks, swaksMissing } from '../smtp/harness.ts';
import { startWithApi } from './client.ts';

const skip = swaksMissing();
const ALICE = 'Alice-pw-7f3c9';
const GUESSER = '127.0.0.21';
const USER_ADDR = '127.0.0.22';

test('failed and successful AUTH attempts are on the dashboard (API JSON)', { skip }, async (t) => {
  const { api, password, relay } = await startWithApi(t, {
    users: [{ name: 'alice', password: ALICE, groups: [] }],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['alice'], groups: [] } },
    limits: { auth_failure_delay: '20ms', max_auth_failures: 3, auth_failure_window: '10m' },
  });
  const me = await api.login('admin', password);
  const authLines = () => relay.logs.filter((l) => l.event === 'auth' || l.event === 'auth.blocked').length;
  const attempt = async (from: string, pass: string) => {
    const before = authLines();
    const r = await swaks(['--server', '127.0.0.1', '--port', String(relay.ports.smtps), '--local-interface', from, '--tls-on-connect', '--ehlo', 'client.example', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', pass, '--from', 'alice@example.net', '--to', 'someone@example.org', '--quit-after', 'AUTH']);
    // The statistics are counted from the same log event, so once it is out the API knows it.
    await relay.waitLog(() => authLines() > before);
    return r.out;
  };

  const zero = (await api.call('GET', '/api/stats', { as: me })).json;
  assert.deepEqual([zero.auth, zero.top_auth_failed], [{ failed: 0, succeeded: 0, blocked: 0 }, []]);

  assert.match(await attempt(GUESSER, 'wrong-1'), /535 5\.7\.8/);
  assert.match(await attempt(GUESSER, 'wrong-2'), /535 5\.7\.8/);
  assert.match(await attempt(GUESSER, 'wrong-3'), /421 4\.7\.0/, 'the third failure closes');
  assert.match(await attempt(GUESSER, ALICE), /421 4\.7\.0/, 'then the address is throttled, even with the right password');
  assert.match(await attempt(USER_ADDR, ALICE), /235 2\.7\.0/);

  const s = await api.call('GET', '/api/stats', { as: me });
  assert.equal(s.status, 200);
  assert.deepEqual(s.json.auth, { failed: 4, succeeded: 1, blocked: 1 });
  assert.deepEqual(s.json.top_auth_failed, [{ client: GUESSER, count: 4 }]);
  const total = (k: string) => s.json.per_minute.reduce((n: number, m: Record<string, number>) => n + (m[k] ?? 0), 0);
  assert.deepEqual([total('auth_failed'), total('auth_succeeded')], [4, 1]);
  assert.deepEqual(s.json.top_refused, [], 'a failed AUTH is not a refused message');
});

test('the open-relay flag follows the proxy path', async (t) => {
  const { api, password } = await startWithApi(t, { domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }] });
  const me = await api.login('admin', password);
  const doc = (await api.call('GET', '/api/settings', { as: me })).json.document;
  const wide = {
    ...doc,
    networks: [...doc.networks, { name: 'wide', type: 'network', address: '64.0.0.0/2' }],
    listeners: doc.listeners.map((l: Record<string, unknown>, i: number) => (i === 0 ? { ...l, trusted_proxies: ['wide'] } : l)),
  };
  const refused = await api.call('PUT', '/api/settings', { body: { document: wide }, as: me });
  assert.equal(refused.status, 422, refused.text);
  assert.deepEqual(refused.json.errors.map((e: { path: string }) => e.path), ['listeners[0].trusted_proxies']);
  assert.match(refused.json.errors[0].message, /open relay/);
  assert.deepEqual(((j) => [j.open_relay, j.open_relay_reasons])((await api.call('GET', '/api/stats', { as: me })).json), [false, []]);

  const acked = await api.call('PUT', '/api/settings', { body: { document: { ...wide, relaying: { ...doc.relaying, open_relay_acknowledged: true } } }, as: me });
  assert.equal(acked.status, 200, acked.text);
  const s = (await api.call('GET', '/api/stats', { as: me })).json;
  assert.equal(s.open_relay, true);
  assert.equal(s.open_relay_reasons.length, 1);
  assert.match(s.open_relay_reasons[0], /^listeners\[0\]\.trusted_proxies: "wide" lets \d+ public IPv4 addresses send a PROXY header/);
});
