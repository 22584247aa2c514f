// The checks of an uploaded certificate and key (src/admin/tls-cert.ts)
// without a daemon: what the API test does not reach (a certificate not valid
// yet, an encrypted key, a bundle whose leaf comes first) and the facts shown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { generate } from 'selfsigned';
import { checkUpload, describeCert, parseCert } from '../../src/admin/tls-cert.ts';

const DAY = 86_400_000;

async function pems(from: number, to: number) {
  const p = await generate([{ name: 'commonName', value: 'leaf.test.example' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(from),
    notAfterDate: new Date(to),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'leaf.test.example' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  return { cert: p.cert, key: p.private };
}

test('a valid certificate and its key pass; the facts are read from the certificate', async () => {
  const now = Date.now();
  const p = await pems(now - DAY, now + 30 * DAY);
  const r = checkUpload(p.cert, p.key, new Date(now));
  assert.equal(r.ok, true);
  const info = describeCert(parseCert(p.cert)!);
  assert.equal(info.subject, 'CN=leaf.test.example');
  assert.equal(info.self_signed, true);
  assert.deepEqual(info.names, ['leaf.test.example', '127.0.0.1']);
  assert.match(info.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  // A bundle: the leaf is the first certificate, whatever follows.
  const other = await pems(now - DAY, now + DAY);
  assert.equal(describeCert(parseCert(p.cert + other.cert)!).fingerprint, info.fingerprint);
});

test('refused: not valid yet, expired at the given time, an encrypted key, not PEM', async () => {
  const now = Date.now();
  const p = await pems(now + 2 * DAY, now + 30 * DAY);
  const early = checkUpload(p.cert, p.key, new Date(now));
  assert.equal(early.ok, false);
  assert.match(early.ok ? '' : early.errors.join(), /^Certificate: not valid before /);
  const late = checkUpload(p.cert, p.key, new Date(now + 31 * DAY));
  assert.match(late.ok ? '' : late.errors.join(), /^Certificate: expired on /);
  const encrypted = createPrivateKey(p.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
  const enc = checkUpload(p.cert, encrypted, new Date(now + 3 * DAY));
  assert.deepEqual(enc.ok ? [] : enc.errors, ['Private key: it is encrypted; upload it without a passphrase (the daemon starts unattended)']);
  const junk = checkUpload('-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----', 'nothing', new Date(now));
  assert.deepEqual(junk.ok ? [] : junk.errors, ['Certificate: not a PEM certificate (-----BEGIN CERTIFICATE-----)', 'Private key: not a PEM private key (-----BEGIN PRIVATE KEY-----)']);
});
