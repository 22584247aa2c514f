// `policy explain --user NAME --from ADDR` through bin/mailwarden shows the
// sender binding: a foreign sender refused at stage mail with 553 5.7.1 and
// the rule relaying.sender_login in the trail, the user's own address
// accepted with the check's verdict printed; and `mailwarden init` writes
// `sender_login: address` for a new installation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { mailwarden, tempDir } from './helpers.ts';

const SETTINGS = `
hostname: mx.example.com
listeners:
  - { name: submission, address: 127.0.0.1, port: 2587, mode: submission }
users:
  - { name: kai, password: kai-password-1, addresses: [kai@example.com] }
relaying:
  authenticated_relay: { enabled: true, users: [kai], groups: [] }
  sender_login: address
`;

test('policy explain --user: the sender binding decides at MAIL and says so', async (t) => {
  const file = join(tempDir(t), 'settings.yaml');
  writeFileSync(file, SETTINGS);
  const explain = (args: string[]) => mailwarden(['policy', 'explain', '--config', file, '--client', '203.0.113.9', '--user', 'kai', '--to', 'x@remote.example', ...args]);

  const foreign = await explain(['--from', 'ceo@bank.example']);
  assert.equal(foreign.status, 1, foreign.stderr);
  assert.match(foreign.stdout, /^reject: 553 5\.7\.1 Sender address not owned by user kai$/m);
  assert.match(foreign.stdout, /stage mail, relaying\.sender_login/);
  assert.match(foreign.stdout, /- sender_login: user "kai": ceo@bank\.example is not one of the user's addresses \(relaying\.sender_login: address\)/);

  const json = JSON.parse((await explain(['--from', 'ceo@bank.example', '--json'])).stdout);
  assert.deepEqual([json.action, json.code, json.enhanced, json.stage, json.rule], ['reject', 553, '5.7.1', 'mail', 'relaying.sender_login']);

  const own = await explain(['--from', 'kai@example.com']);
  assert.equal(own.status, 0, own.stdout);
  assert.match(own.stdout, /^accept: 250 2\.1\.5/m);
  assert.match(own.stdout, /checks: .*"sender_login":\{"mode":"address","user":"kai","verdict":"pass","why":"kai@example\.com is one of the user's addresses"\}/);

  const bounce = await explain(['--from', '<>']);
  assert.equal(bounce.status, 0, bounce.stdout);
});

test('init: a new installation binds senders to their address', async (t) => {
  const data = tempDir(t);
  const init = await mailwarden(['init', '--data', data]);
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stdout, /senders bound to their login: address, header From: too/);
  const exported = parse((await mailwarden(['config', 'export', '--data', data])).stdout);
  assert.equal(exported.relaying.sender_login, 'address');
  assert.equal(exported.relaying.header_from_login, true);
});

test('user add --address and user addresses set the addresses a user may send as', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const add = await mailwarden(['user', 'add', 'kai', '--address', 'kai@example.com', '--address', '@example.org', '--password-stdin', '--data', data], { input: 'kai-password-1\n' });
  assert.equal(add.status, 0, add.stderr);
  const addresses = async () => (JSON.parse((await mailwarden(['user', 'list', '--json', '--data', data])).stdout) as { name: string; addresses?: string[] }[]).find((u) => u.name === 'kai')?.addresses;
  assert.deepEqual(await addresses(), ['kai@example.com', '@example.org']);
  const plain = await mailwarden(['user', 'list', '--data', data]);
  assert.match(plain.stdout, /^kai\tenabled\t-\tkai@example\.com,@example\.org$/m);

  const set = await mailwarden(['user', 'addresses', 'kai', 'k.ai@example.com', '--data', data]);
  assert.equal(set.status, 0, set.stderr);
  assert.match(set.stdout, /addresses of "kai": k\.ai@example\.com/);
  assert.deepEqual(await addresses(), ['k.ai@example.com']);

  // Validation names the address: a bare local part is not an address.
  const bad = await mailwarden(['user', 'addresses', 'kai', 'not an address', '--data', data]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /users\[\d+\].*addresses\[0\]/);
  assert.deepEqual(await addresses(), ['k.ai@example.com']);

  assert.equal((await mailwarden(['user', 'addresses', 'kai', '--data', data])).status, 0);
  assert.equal(await addresses(), undefined);
  assert.equal((await mailwarden(['user', 'addresses', 'nobody', 'x@example.com', '--data', data])).status, 1);
});
