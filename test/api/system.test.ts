// The admin's own password (POST /api/me/password) and the TLS certificate
// (GET/PUT/DELETE /api/tls), against the real daemon: a wrong current
// password or a short new one is refused, the session that changed it goes
// on while the others end; an uploaded certificate is checked (key, expiry),
// stored, applied as a revision and served by the listeners after a restart,
// and the self-signed one comes back on DELETE.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { generate } from 'selfsigned';
import { restartRelay } from '../smtp/harness.ts';
import { ApiClient, startWithApi } from './client.ts';

test('own password: checked against the current one and the admin rules; this session stays, the others end; a viewer may change its own; a token may not', async (t) => {
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const other = await api.login('admin', password);

  const wrong = await api.call('POST', '/api/me/password', { as: me, body: { current: 'not it', password: 'a-new-password' } });
  assert.equal(wrong.status, 422);
  assert.match(wrong.json.message, /Current password: wrong password/);
  const short = await api.call('POST', '/api/me/password', { as: me, body: { current: password, password: 'short' } });
  assert.equal(short.status, 400);
  assert.match(short.json.message, /password: must NOT have fewer than 8 characters/);
  assert.equal((await api.call('POST', '/api/me/password', { as: { cookie: me.cookie }, body: { current: password, password: 'a-new-password' } })).status, 403, 'no CSRF token');
  assert.equal((await api.login('admin', password)).answer.status, 200, 'nothing changed yet');

  const ok = await api.call('POST', '/api/me/password', { as: me, body: { current: password, password: 'a-new-password' } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.session, 'kept');
  assert.equal((await api.call('GET', '/api/settings', { as: me })).status, 200, 'the session that changed it goes on');
  assert.equal((await api.call('GET', '/api/settings', { as: other })).status, 401, 'every other session ended');
  assert.equal((await api.login('admin', password)).answer.status, 401, 'the old password no longer works');
  assert.equal((await api.login('admin', 'a-new-password')).answer.status, 200);

  assert.equal((await api.call('POST', '/api/admins', { as: me, body: { name: 'watcher', password: 'watcher-pass', role: 'viewer' } })).status, 201);
  const viewer = await api.login('watcher', 'watcher-pass');
  assert.equal((await api.call('POST', '/api/me/password', { as: viewer, body: { current: 'watcher-pass', password: 'watcher-pass-2' } })).status, 200, 'a viewer changes its own password');
  assert.equal((await api.call('PUT', '/api/admins/admin', { as: viewer, body: { password: 'hijacked-pass' } })).status, 403, 'but nobody else\'s');
  assert.equal((await api.login('watcher', 'watcher-pass-2')).answer.status, 200);

  const token = await api.call('POST', '/api/tokens', { as: me, body: { name: 'ci', role: 'admin' } });
  const viaToken = await api.call('POST', '/api/me/password', { as: { token: token.json.token }, body: { current: 'a-new-password', password: 'another-pass' } });
  assert.equal(viaToken.status, 403);
});

async function certFor(opts: { notBefore?: Date; notAfter?: Date } = {}): Promise<{ cert: string; key: string }> {
  const notBeforeDate = opts.notBefore ?? new Date(Date.now() - 86_400_000);
  const notAfterDate = opts.notAfter ?? new Date(Date.now() + 90 * 86_400_000);
  const p = await generate([{ name: 'commonName', value: 'uploaded.test.example' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'uploaded.test.example' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  return { cert: p.cert, key: p.private };
}

/** The certificate an SMTPS listener presents: its subject's CN. */
function servedCN(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'mx.test.example' }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.destroy();
      resolve(String(cn));
    });
    s.on('error', reject);
  });
}

test('TLS certificate: shown, uploaded (key and expiry checked), used after a restart, back to self-signed', async (t) => {
  const { relay, api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const first = await api.call('GET', '/api/tls', { as: me });
  assert.equal(first.status, 200);
  assert.equal(first.json.in_use.self_signed, true);
  assert.match(first.json.in_use.subject, /CN=mx\.test\.example/);
  assert.equal(first.json.configured, null);
  assert.equal(first.json.restart_needed, false);

  const good = await certFor();
  const stranger = await certFor();
  const mismatch = await api.call('PUT', '/api/tls', { as: me, body: { cert: good.cert, key: stranger.key } });
  assert.equal(mismatch.status, 422);
  assert.deepEqual(mismatch.json.errors, [{ path: 'tls.key', message: 'Private key: it does not belong to this certificate' }]);
  const old = await certFor({ notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  const expired = await api.call('PUT', '/api/tls', { as: me, body: old });
  assert.equal(expired.status, 422);
  assert.match(expired.json.errors[0].message, /^Certificate: expired on /);
  const junk = await api.call('PUT', '/api/tls', { as: me, body: { cert: 'hello', key: 'world' } });
  assert.equal(junk.status, 422);
  assert.equal(junk.json.errors.length, 2);
  assert.equal((await api.call('GET', '/api/tls', { as: me })).json.configured, null, 'refusals changed nothing');

  const up = await api.call('PUT', '/api/tls', { as: me, body: good });
  assert.equal(up.status, 200, up.text);
  assert.ok(up.json.revision?.number > 0);
  const after = (await api.call('GET', '/api/tls', { as: me })).json;
  assert.match(after.configured.cert, /tls\/uploaded\/[0-9a-f]{16}-cert\.pem$/);
  assert.equal(after.next_start.subject, 'CN=uploaded.test.example');
  assert.equal(after.next_start.self_signed, true);
  assert.equal(after.restart_needed, true, 'loaded at start: the old one is still in use');
  assert.match(after.in_use.subject, /mx\.test\.example/);

  // Restarted on the same data directory (no --config): the listeners serve the uploaded certificate.
  await relay.stop();
  const again = await restartRelay(t, relay.dataDir, { mx: 0, submission: 0, smtps: 0 });
  assert.equal(await servedCN(again.ports.smtps), 'uploaded.test.example');
  const api2 = new ApiClient(again.adminPort ?? 0, Buffer.from(good.cert));
  const me2 = await api2.login('admin', password);
  const now = (await api2.call('GET', '/api/tls', { as: me2 })).json;
  assert.equal(now.in_use.subject, 'CN=uploaded.test.example');
  assert.equal(now.restart_needed, false);

  const back = await api2.call('DELETE', '/api/tls', { as: me2 });
  assert.equal(back.status, 200, back.text);
  const self = (await api2.call('GET', '/api/tls', { as: me2 })).json;
  assert.equal(self.configured, null);
  assert.match(self.next_start.subject, /CN=mx\.test\.example/, 'the self-signed certificate generated at the first start is kept');
  assert.equal(self.restart_needed, true);
  // A viewer sees the certificate but cannot change it.
  assert.equal((await api2.call('POST', '/api/admins', { as: me2, body: { name: 'watcher', password: 'watcher-pass', role: 'viewer' } })).status, 201);
  const viewer = await api2.login('watcher', 'watcher-pass');
  assert.equal((await api2.call('GET', '/api/tls', { as: viewer })).status, 200);
  assert.equal((await api2.call('PUT', '/api/tls', { as: viewer, body: good })).status, 403);
});
