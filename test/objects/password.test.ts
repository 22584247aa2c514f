// Password hashes: scrypt round trips, unknown users cost a scrypt too, and
// logins never take every thread of libuv's pool (the spool's fsyncs and file
// creations must find one free).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { hashPassword, hashPasswordAsync, isPasswordHash, passwordShortfall, verifyPassword, verifyPasswordAsync } from '../../src/objects/password.ts';

test('a hash verifies its password and no other, also off the event loop', async () => {
  const h = hashPassword('correct horse');
  assert.ok(isPasswordHash(h));
  assert.equal(verifyPassword('correct horse', h), true);
  assert.equal(verifyPassword('correct horsf', h), false);
  assert.equal(await verifyPasswordAsync('correct horse', h), true);
  assert.equal(await verifyPasswordAsync('correct horsf', h), false);
  assert.equal(await verifyPasswordAsync('correct horse', undefined), false);
  assert.equal(await verifyPasswordAsync('x', 'not a hash'), false);
  const a = await hashPasswordAsync('correct horse');
  assert.ok(isPasswordHash(a));
  assert.notEqual(a, h, 'a salt of its own');
  assert.equal(verifyPassword('correct horse', a), true);
  assert.equal(verifyPassword('correct horsf', a), false);
});

test('with a pool of 2 threads, 4 logins at once leave one thread to the file system', () => {
  // In a child: the pool size is read when the pool starts. Four logins are
  // started, then an fs call; it must finish before the first login does. If
  // the logins could take both threads, the fs call would queue behind them.
  const module = resolve(import.meta.dirname, '../../src/objects/password.ts');
  const script = `
    import { hashPassword, verifyPasswordAsync } from ${JSON.stringify(module)};
    import { access } from 'node:fs';
    const h = hashPassword('pw');
    const order = [];
    const logins = [1, 2, 3, 4].map((i) => verifyPasswordAsync('pw', h).then((ok) => order.push('login' + i + ':' + ok)));
    await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => access('.', () => { order.push('fs'); r(); }));
    await Promise.all(logins);
    process.stdout.write(JSON.stringify(order));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '2' } });
  assert.equal(r.stderr, '');
  const order = JSON.parse(r.stdout) as string[];
  assert.deepEqual(order, ['fs', 'login1:true', 'login2:true', 'login3:true', 'login4:true']);
});

test('the minimum length counts characters as typed (code points after NFC), not octets or UTF-16 units', () => {
  assert.equal(passwordShortfall('12345678', 8), null);
  assert.match(passwordShortfall('1234567', 8) ?? '', /too short: 7 characters, at least 8 needed \(limits\.min_password_length\)/);
  assert.match(passwordShortfall('x', 8) ?? '', /1 character,/);
  // "é" typed as e + combining acute is one character; an emoji is one, not two UTF-16 units.
  assert.equal(passwordShortfall('e\u0301'.repeat(8), 8), null);
  assert.match(passwordShortfall('e\u0301'.repeat(7), 8) ?? '', /7 characters/);
  assert.match(passwordShortfall('😀'.repeat(4), 8) ?? '', /4 characters/);
});
