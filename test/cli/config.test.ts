// The config commands end to end through bin/mailwarden: import → export
// round trip, refused imports leave the active revision alone, history,
// diff and rollback, and secrets never printed unless asked for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FIXTURES, mailwarden, tempDir } from './helpers.ts';

const EXAMPLE = join(FIXTURES, 'example.yaml');

test('import then export round-trips the document without secrets', async (t) => {
  const data = tempDir(t);
  const imp = await mailwarden(['config', 'import', EXAMPLE, '--data', data, '--comment', 'first']);
  assert.equal(imp.status, 0, imp.stderr);
  assert.match(imp.stdout, /applied: revision 1 is active/);

  const exp = await mailwarden(['config', 'export', '--data', data]);
  assert.equal(exp.status, 0, exp.stderr);
  assert.doesNotMatch(exp.stdout, /s3cret|hunter2|scrypt\$/, 'export must not show passwords or hashes');
  const exported = parse(exp.stdout);
  const original = parse(readFileSync(EXAMPLE, 'utf8'));
  assert.deepEqual(exported.networks, original.networks);
  assert.deepEqual(exported.relaying, original.relaying);
  assert.deepEqual(exported.domains, original.domains);
  assert.deepEqual(exported.users.map((u: { name: string }) => u.name), ['alice', 'bob']);

  // The exported text imports again and changes nothing (hashes carried over).
  const file = join(data, 'exported.yaml');
  writeFileSync(file, exp.stdout);
  const again = await mailwarden(['config', 'import', file, '--data', data]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /nothing changed/);

  const secret = await mailwarden(['config', 'export', '--with-secrets', '--json', '--data', data]);
  const withSecrets = JSON.parse(secret.stdout);
  assert.match(withSecrets.users[0].password_hash, /^scrypt\$/);
  assert.equal(withSecrets.users[0].password, undefined, 'clear-text passwords are never stored');
  assert.doesNotMatch(secret.stdout, /s3cret/);
});

test('a refused import reports every error and leaves the active revision unchanged', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['config', 'import', EXAMPLE, '--data', data])).status, 0);
  const bad = readFileSync(EXAMPLE, 'utf8')
    .replace('allowed_hosts: [office]', 'allowed_hosts: [office, ofice]')
    .replace('address: 10.1.0.0/16', 'address: 010.1.0.0/16')
    .replace('members: [office, isp-mx]', 'members: [office, isp-mx, trusted]');
  const file = join(data, 'bad.yaml');
  writeFileSync(file, bad);
  const r = await mailwarden(['config', 'import', file, '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /relaying\.allowed_hosts\[1\]: unknown network object "ofice"/);
  assert.match(r.stderr, /networks\[0\] \("office"\)\.address: "010\.1\.0\.0\/16"/);
  assert.match(r.stderr, /cycle/);
  assert.match(r.stderr, /active revision is unchanged/);

  const h = JSON.parse((await mailwarden(['config', 'history', '--json', '--data', data])).stdout);
  assert.equal(h.length, 1);
  assert.equal(h[0].number, 1);
  assert.equal(h[0].active, true);
});

test('an open relay is refused in words, and accepted only when acknowledged', async (t) => {
  const data = tempDir(t);
  const open = readFileSync(EXAMPLE, 'utf8').replace('allowed_hosts: [office]', 'allowed_hosts: [office, Any]');
  const file = join(data, 'open.yaml');
  writeFileSync(file, open);
  const r = await mailwarden(['config', 'check', file, '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /would make an open relay/);

  writeFileSync(file, open.replace('open_relay_acknowledged: false', 'open_relay_acknowledged: true'));
  const ok = await mailwarden(['config', 'import', file, '--data', data]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /warning: .*OPEN RELAY/);
});

test('history, diff and rollback', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['config', 'import', EXAMPLE, '--data', data, '--author', 'tester'])).status, 0);
  const second = join(data, 'second.yaml');
  writeFileSync(second, readFileSync(EXAMPLE, 'utf8').replace('upstream_only: false', 'upstream_only: true'));
  assert.equal((await mailwarden(['config', 'import', second, '--data', data, '--comment', 'lock down'])).status, 0);

  const diff = await mailwarden(['config', 'diff', '1', '2', '--data', data]);
  assert.equal(diff.status, 0, diff.stderr);
  assert.equal(diff.stdout.trim(), '~ relaying.upstream_only: false → true');

  const rb = await mailwarden(['config', 'rollback', '1', '--yes', '--data', data]);
  assert.equal(rb.status, 0, rb.stderr);
  assert.match(rb.stdout, /revision 3 is active/);
  const exp = parse((await mailwarden(['config', 'export', '--data', data])).stdout);
  assert.equal(exp.relaying.upstream_only, false);

  const h = JSON.parse((await mailwarden(['config', 'history', '--json', '--data', data])).stdout);
  assert.deepEqual(h.map((r: { number: number }) => r.number), [3, 2, 1]);
  assert.equal(h[0].comment, 'rollback to revision 1');
  assert.equal(h[1].comment, 'lock down');
  assert.equal(h[2].author, 'tester');
  assert.equal((await mailwarden(['config', 'diff', '1', '3', '--data', data])).stdout.trim(), 'no differences');

  const missing = await mailwarden(['config', 'rollback', '9', '--yes', '--data', data]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no revision 9/);
  const junk = await mailwarden(['config', 'rollback', 'x', '--data', data]);
  assert.equal(junk.status, 2);
});

test('config check does not apply, and reports YAML syntax errors', async (t) => {
  const data = tempDir(t);
  const ok = await mailwarden(['config', 'check', EXAMPLE, '--data', data]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /valid/);
  assert.equal(JSON.parse((await mailwarden(['config', 'history', '--json', '--data', data])).stdout).length, 0);

  const file = join(data, 'broken.yaml');
  writeFileSync(file, 'relaying:\n  allowed_hosts: [office\n');
  const bad = await mailwarden(['config', 'check', file, '--data', data]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /not valid YAML/);
});
