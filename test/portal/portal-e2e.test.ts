// The user portal against the real daemon (issue 21): a real spamd
// quarantines GTUBE, a sink started here is the next hop, swaks is the
// outside sender. A local user signs in (cookie attributes, the admin and
// portal sessions kept apart both ways, a disabled user refused, failed
// sign-ins throttled), sees only the quarantined mail addressed to them
// (another user's message id is a 404, as an unknown id), releases one (it
// reaches the next hop), keeps allow and block lists (CSRF token needed,
// bad entries refused); the block list refuses that recipient at RCPT with
// 550 5.7.1 while the other recipient is accepted; the allow list lets GTUBE
// past spamd to that recipient while the same message to a recipient
// without the entry is still quarantined. A user disabled, or given a new
// password, by the admin is signed out at once.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { engineAvailable, GTUBE, startSpamd, type RunningSpamd } from '../scan/engines.ts';
import { message, quarantined, sendMessage } from '../scan/scan-helpers.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { swaks, swaksMissing } from '../smtp/harness.ts';
import { startWithApi, type ApiClient, type Answer } from '../api/client.ts';

const OUTSIDE = '127.0.0.2';
const avail = engineAvailable('spamd');
const skip = !avail.ok ? avail.reason : swaksMissing();
let spamd: RunningSpamd | null = null;
before(async () => {
  if (!skip) spamd = await startSpamd();
});
after(async () => {
  await spamd?.stop();
});

const USERS = [
  // The wildcard is the user's right to send as the domain, never a view of the domain's quarantine.
  { name: 'alice', password: 'alice-portal-pw-1', groups: [], enabled: true, addresses: ['alice@example.com', '@example.com'] },
  { name: 'bob@example.com', password: 'bob-portal-pw-12', groups: [], enabled: true },
  { name: 'carol', password: 'carol-portal-pw-1', groups: [], enabled: false, addresses: ['carol@example.com'] },
];

interface PortalCaller {
  cookie: string;
  csrf: string;
  answer: Answer;
}

async function portalLogin(api: ApiClient, name: string, password: string, localAddress?: string): Promise<PortalCaller> {
  const answer = await api.call('POST', '/api/portal/login', { body: { name, password }, ...(localAddress ? { localAddress } : {}) });
  const set = answer.headers['set-cookie'];
  const cookie = Array.isArray(set) ? ((set[0] ?? '').split(';')[0] ?? '') : '';
  return { cookie, csrf: answer.json?.csrf ?? '', answer };
}

const gtube = (subject: string) => message(`Buy now.\r\n${GTUBE}\r\n`, { Subject: subject });

test('portal: sign-in, own quarantine only, release to the next hop, sender lists applied at RCPT and to the spam verdict', { skip }, async (t) => {
  const sink: Sink = await startSink();
  t.after(() => sink.close());
  const { relay, api, password } = await startWithApi(t, {
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.1:${sink.port}`] } }],
    delivery: { enabled: true },
    users: USERS,
    antispam: { enabled: true, engine: 'spamassassin', spamd: spamd!.address, timeout: '20s', reject_score: null, spam_action: 'quarantine' },
  });

  // Sign-in, and the two kinds of session kept apart.
  const admin = await api.login('admin', password);
  assert.equal((await api.call('GET', '/api/portal/me', { as: admin })).status, 401, 'an admin session does not open the portal');
  assert.equal((await portalLogin(api, 'alice', 'wrong-password-x')).answer.status, 401);
  assert.equal((await portalLogin(api, 'carol', 'carol-portal-pw-1')).answer.status, 401, 'a disabled user cannot sign in');
  assert.equal((await portalLogin(api, 'admin', password)).answer.status, 401, 'an admin account is no portal user');
  const alice = await portalLogin(api, 'alice', 'alice-portal-pw-1');
  assert.equal(alice.answer.status, 200, alice.answer.text);
  const setCookie = String((alice.answer.headers['set-cookie'] as string[])[0]);
  assert.match(setCookie, /^mw_portal=[A-Za-z0-9_-]{43}; /);
  for (const attr of [/; HttpOnly/, /; Secure/, /; SameSite=Strict/, /; Path=\/api\/portal/]) assert.match(setCookie, attr);
  assert.deepEqual(alice.answer.json.addresses, ['alice@example.com'], 'mailboxes only, never the @domain wildcard');
  for (const path of ['/api/me', '/api/settings', '/api/queue', '/api/quarantine']) {
    assert.equal((await api.call('GET', path, { as: { cookie: alice.cookie } })).status, 401, `a user session never reaches ${path}`);
  }
  assert.equal((await api.call('GET', '/api/portal/me', { as: { cookie: alice.cookie } })).json.name, 'alice');
  const bob = await portalLogin(api, 'bob@example.com', 'bob-portal-pw-12');
  assert.deepEqual(bob.answer.json.addresses, ['bob@example.com'], 'the name, when it is an address');

  // Quarantine: each sees their own only.
  const forAlice = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'promo@outside.example', to: ['alice@example.com'], message: gtube('For alice') });
  const forBob = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'promo@outside.example', to: ['bob@example.com'], message: gtube('For bob') });
  assert.deepEqual(quarantined(relay).sort(), [forAlice.id, forBob.id].sort());
  const list = await api.call('GET', '/api/portal/quarantine', { as: { cookie: alice.cookie } });
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.json.entries.map((e: { id: string }) => e.id), [forAlice.id]);
  assert.equal(list.json.entries[0].subject, 'For alice');
  assert.equal(list.json.entries[0].category, 'spam');
  assert.equal(list.json.entries[0].releasable, true);
  const asAlice = { cookie: alice.cookie, csrf: alice.csrf };
  const notHers = await api.call('POST', `/api/portal/quarantine/${forBob.id}/release`, { as: asAlice });
  assert.equal(notHers.status, 404, "another user's message is not found");
  assert.deepEqual(notHers.json.message, `no quarantined message ${forBob.id}`);
  assert.equal((await api.call('POST', `/api/portal/quarantine/zzzzzzzzzzzzzzzz/release`, { as: asAlice })).status, 404);
  assert.equal((await api.call('POST', `/api/portal/quarantine/${forBob.id}/delete`, { as: asAlice })).status, 404);
  assert.equal((await api.call('POST', `/api/portal/quarantine/${forAlice.id}/release`, { as: { cookie: alice.cookie } })).status, 403, 'no CSRF token');
  const released = await api.call('POST', `/api/portal/quarantine/${forAlice.id}/release`, { as: asAlice });
  assert.equal(released.status, 200, released.text);
  const [delivered] = await sink.waitFor(1, 20_000);
  assert.deepEqual(delivered?.to, ['alice@example.com']);
  assert.match(delivered?.raw.toString('latin1') ?? '', /^Subject: For alice\r$/m);
  assert.deepEqual(quarantined(relay), [forBob.id], "bob's stays");
  const line = await relay.waitLog((l) => l.event === 'quarantine.released' && l.id === forAlice.id);
  assert.deepEqual(line.by, { kind: 'user', name: 'alice' });
  const bobsList = await api.call('GET', '/api/portal/quarantine', { as: { cookie: bob.cookie } });
  assert.deepEqual(bobsList.json.entries.map((e: { id: string }) => e.id), [forBob.id]);

  // Sender lists: CSRF, validation, normalised and read back.
  const lists = { allow: ['Friend@Outside.example'], block: ['@spam.example'] };
  assert.equal((await api.call('PUT', '/api/portal/senders', { body: lists, as: { cookie: alice.cookie } })).status, 403);
  const bad = await api.call('PUT', '/api/portal/senders', { body: { allow: ['not an address'], block: [] }, as: asAlice });
  assert.equal(bad.status, 422);
  assert.match(bad.json.errors[0], /^allow\[0\]: /);
  const saved = await api.call('PUT', '/api/portal/senders', { body: lists, as: asAlice });
  assert.equal(saved.status, 200, saved.text);
  assert.deepEqual((await api.call('GET', '/api/portal/senders', { as: { cookie: alice.cookie } })).json, { allow: ['friend@outside.example'], block: ['@spam.example'] });
  assert.deepEqual((await api.call('GET', '/api/portal/senders', { as: { cookie: bob.cookie } })).json, { allow: [], block: [] }, "bob's lists are his own");

  // Block list: alice's RCPT refused, bob's accepted, in one transaction.
  const sw = await swaks(['--server', '127.0.0.1', '--port', String(relay.ports.mx), '--local-interface', OUTSIDE, '--ehlo', 'client.example', '--from', 'x@spam.example', '--to', 'alice@example.com,bob@example.com', '--body', 'hello']);
  assert.match(sw.out, /<\*\* +550 5\.7\.1 Sender blocked by the recipient/);
  assert.match(sw.out, /<- +250 2\.0\.0 Ok: queued as/);
  const refused = await relay.waitLog((l) => l.event === 'rcpt' && l.rule === 'sender_list.block');
  assert.equal(refused.code, 550);
  await sink.waitFor(2, 20_000);
  assert.deepEqual(sink.messages[1]?.to, ['bob@example.com'], 'only the recipient without the entry got it');

  // Allow list: GTUBE past spamd to alice; to alice and bob (who has no entry) still quarantined.
  const allowed = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'friend@outside.example', to: ['alice@example.com'], message: gtube('Friendly GTUBE') });
  assert.match(allowed.reply, /^250 /);
  const [, , third] = await sink.waitFor(3, 20_000);
  assert.deepEqual(third?.to, ['alice@example.com']);
  assert.match(third?.raw.toString('latin1') ?? '', /^X-Mailwarden-Spam: not scanned \(the sender is on the allow list of every recipient\)\r$/m);
  const allowLine = await relay.waitLog((l) => l.event === 'queued' && l.id === allowed.id);
  const scan = allowLine.scan as { rule: string; spam: unknown; checks: { sender_list?: { rule: string } } };
  assert.equal(scan.rule, 'sender_list.allow', 'the log line names the rule');
  assert.deepEqual(scan.spam, { scanned: false, why: 'allowed' });
  assert.equal(scan.checks.sender_list?.rule, 'sender_list.allow');
  const both = await sendMessage(relay.ports.mx, { client: OUTSIDE, from: 'friend@outside.example', to: ['alice@example.com', 'bob@example.com'], message: gtube('GTUBE to both') });
  assert.match(both.reply, /^250 /);
  assert.ok(quarantined(relay).includes(both.id!), 'a recipient without the allow entry keeps the spam verdict');

  // Sign-out ends the session; failed sign-ins are throttled per client.
  assert.equal((await api.call('POST', '/api/portal/logout', { as: asAlice })).status, 200);
  assert.equal((await api.call('GET', '/api/portal/me', { as: { cookie: alice.cookie } })).status, 401);
  for (let i = 0; i < 5; i++) assert.equal((await portalLogin(api, 'alice', `wrong-${i}-password`, '127.0.0.9')).answer.status, 401);
  const throttled = await portalLogin(api, 'alice', 'alice-portal-pw-1', '127.0.0.9');
  assert.equal(throttled.answer.status, 429, 'even the right password waits');
  const again = await portalLogin(api, 'alice', 'alice-portal-pw-1', '127.0.0.10');
  assert.equal(again.answer.status, 200, 'another client is not affected');

  // Re-checked on every request: a user disabled, or given a new password, is signed out at once.
  assert.equal((await api.call('GET', '/api/portal/me', { as: { cookie: bob.cookie } })).status, 200);
  const disabled = await api.call('PUT', `/api/users/${encodeURIComponent('bob@example.com')}`, { body: { enabled: false }, as: admin });
  assert.equal(disabled.status, 200, disabled.text);
  assert.equal((await api.call('GET', '/api/portal/me', { as: { cookie: bob.cookie } })).status, 401, 'disabled: signed out');
  const newPassword = await api.call('PUT', '/api/users/alice', { body: { password: 'alice-new-password-2' }, as: admin });
  assert.equal(newPassword.status, 200, newPassword.text);
  assert.equal((await api.call('GET', '/api/portal/me', { as: { cookie: again.cookie } })).status, 401, 'a new password: signed out');
  assert.equal((await portalLogin(api, 'alice', 'alice-new-password-2', '127.0.0.11')).answer.status, 200);
});
