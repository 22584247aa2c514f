// The minimum length of SMTP user passwords (limits.min_password_length,
// default 8), as admin accounts have: `user add` and `user passwd` refuse a
// shorter one naming the setting, `config import` refuses a document that
// sets one, and the minimum can be changed. A stored hash keeps working
// whatever its password's length (nobody is locked out), and the document
// `start --config` applies at every start only warns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { hashPassword, verifyPassword } from '../../src/objects/password.ts';
import { mailwarden, tempDir } from './helpers.ts';
import { RawClient, relayDoc, startRelay } from '../smtp/harness.ts';

const exportUsers = async (data: string) => JSON.parse((await mailwarden(['config', 'export', '--with-secrets', '--json', '--data', data])).stdout).users as { name: string; password_hash: string }[];

test('user add and passwd refuse a password shorter than limits.min_password_length; the minimum is configurable', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const short = await mailwarden(['user', 'add', 'alice', '--password-stdin', '--data', data], { input: 'x\n' });
  assert.equal(short.status, 1);
  assert.match(short.stderr, /users\[0\] \("alice"\)\.password: .*too short: 1 character, at least 8 needed \(limits\.min_password_length\)/);
  assert.deepEqual(await exportUsers(data), [], 'nothing applied');
  assert.equal((await mailwarden(['user', 'add', 'alice', '--password-stdin', '--data', data], { input: '1234567\n' })).status, 1, 'seven is one short');
  const ok = await mailwarden(['user', 'add', 'alice', '--password-stdin', '--data', data], { input: '12345678\n' });
  assert.equal(ok.status, 0, ok.stderr);
  const passwd = await mailwarden(['user', 'passwd', 'alice', '--password-stdin', '--data', data], { input: 'short\n' });
  assert.equal(passwd.status, 1);
  assert.match(passwd.stderr, /too short: 5 characters/);
  assert.ok(verifyPassword('12345678', (await exportUsers(data))[0]!.password_hash), 'the old password stays');

  // Characters, not octets: eight accented letters are eight.
  assert.equal((await mailwarden(['user', 'passwd', 'alice', '--password-stdin', '--data', data], { input: 'éééééééé\n' })).status, 0);

  // A site that wants longer ones says so.
  const doc = join(data, 'limits.yaml');
  const current = JSON.parse((await mailwarden(['config', 'export', '--json', '--data', data])).stdout);
  writeFileSync(doc, stringify({ ...current, limits: { ...current.limits, min_password_length: 12 } }));
  assert.equal((await mailwarden(['config', 'import', doc, '--data', data])).status, 0);
  const eleven = await mailwarden(['user', 'add', 'bob', '--password-stdin', '--data', data], { input: '12345678901\n' });
  assert.equal(eleven.status, 1);
  assert.match(eleven.stderr, /at least 12 needed/);
  assert.equal((await mailwarden(['user', 'add', 'bob', '--password-stdin', '--data', data], { input: '123456789012\n' })).status, 0);
  writeFileSync(doc, stringify({ ...current, limits: { ...current.limits, min_password_length: 0 } }));
  assert.equal((await mailwarden(['config', 'import', doc, '--data', data])).status, 1, 'at least 1');
});

test('config import refuses a clear-text password under the minimum; a stored hash of a short password is kept and still verifies', async (t) => {
  const data = tempDir(t);
  const file = join(data, 'doc.yaml');
  writeFileSync(file, stringify({ users: [{ name: 'carol', password: 'abc' }] }));
  const refused = await mailwarden(['config', 'import', file, '--data', data]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /users\[0\] \("carol"\)\.password: user "carol": too short/);

  const oldHash = hashPassword('abc');
  writeFileSync(file, stringify({ users: [{ name: 'carol', password_hash: oldHash }] }));
  assert.equal((await mailwarden(['config', 'import', file, '--data', data])).status, 0, 'a hash is not a new password');
  // Other changes leave carol's hash as it is.
  assert.equal((await mailwarden(['user', 'add', 'dave', '--password-stdin', '--data', data], { input: 'long-enough\n' })).status, 0);
  assert.equal((await mailwarden(['user', 'disable', 'dave', '--data', data])).status, 0);
  const carol = (await exportUsers(data)).find((u) => u.name === 'carol')!;
  assert.equal(carol.password_hash, oldHash);
  assert.ok(verifyPassword('abc', carol.password_hash));
});

test('start --config with a short clear-text password starts, warns, and the user can still log in', async (t) => {
  const { doc, ports } = await relayDoc({
    users: [{ name: 'old', password: 'abc', groups: [] }],
    relaying: { allowed_hosts: ['localhost'], authenticated_relay: { enabled: true, users: ['old'], groups: [] } },
  });
  const relay = await startRelay(t, doc, ports);
  const w = await relay.waitLog((l) => l.event === 'config.warning' && l.path === 'users[0].password');
  assert.match(String(w.message), /too short: 3 characters/);
  const c = await RawClient.connectTls(ports.smtps);
  assert.match((await c.reply()) ?? '', /^220 /);
  assert.match((await c.cmd('EHLO client.example')) ?? '', /AUTH/);
  assert.match((await c.cmd(`AUTH PLAIN ${Buffer.from('\0old\0abc').toString('base64')}`)) ?? '', /^235 /);
  c.write('QUIT\r\n');
});
