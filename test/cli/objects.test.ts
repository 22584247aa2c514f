// User, group and network commands through bin/mailwarden.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, mailwarden, tempDir } from './helpers.ts';
import { verifyPassword } from '../../src/objects/password.ts';

test('user add / passwd / disable / list, passwords from stdin only', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const noStdin = await mailwarden(['user', 'add', 'carol', '--data', data]);
  assert.equal(noStdin.status, 2);
  assert.match(noStdin.stderr, /--password-stdin/);

  const add = await mailwarden(['user', 'add', 'carol', '--group', 'staff', '--password-stdin', '--data', data], { input: 'first pass\n' });
  assert.equal(add.status, 0, add.stderr);
  const dup = await mailwarden(['user', 'add', 'carol', '--password-stdin', '--data', data], { input: 'x\n' });
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /already exists/);

  const hashOf = async () => {
    const s = JSON.parse((await mailwarden(['config', 'export', '--with-secrets', '--json', '--data', data])).stdout);
    return s.users.find((u: { name: string }) => u.name === 'carol');
  };
  const before = await hashOf();
  assert.ok(verifyPassword('first pass', before.password_hash));
  assert.deepEqual(before.groups, ['staff']);

  assert.equal((await mailwarden(['user', 'passwd', 'carol', '--password-stdin', '--data', data], { input: 'second pass\n' })).status, 0);
  const after = await hashOf();
  assert.ok(verifyPassword('second pass', after.password_hash));
  assert.ok(!verifyPassword('first pass', after.password_hash));

  assert.equal((await mailwarden(['user', 'disable', 'carol', '--data', data])).status, 0);
  const list = JSON.parse((await mailwarden(['user', 'list', '--json', '--data', data])).stdout);
  assert.deepEqual(list, [{ name: 'carol', groups: ['staff'], enabled: false }]);
  assert.equal((await mailwarden(['user', 'passwd', 'nobody', '--password-stdin', '--data', data], { input: 'x\n' })).status, 1);
});

test('removing a referenced object is refused and names who refers to it', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['config', 'import', join(FIXTURES, 'example.yaml'), '--data', data])).status, 0);
  const r = await mailwarden(['network', 'remove', 'office', '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /networks\[3\] \(group "trusted"\)\.members\[0\]/);
  assert.match(r.stderr, /relaying\.allowed_hosts\[0\]/);
  const g = await mailwarden(['group', 'remove', 'staff', '--data', data]);
  assert.equal(g.status, 1);
  assert.match(g.stderr, /users\[0\] \("alice"\)\.groups\[0\]/);
  const ok = await mailwarden(['network', 'remove', 'dmz', '--data', data]);
  assert.equal(ok.status, 0, ok.stderr);
  const nets = JSON.parse((await mailwarden(['network', 'list', '--json', '--data', data])).stdout);
  assert.ok(!nets.some((n: { name: string }) => n.name === 'dmz'));
  assert.ok(nets.some((n: { name: string }) => n.name === 'office'));
});
