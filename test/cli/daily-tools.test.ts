// The command line as an administrator's daily tool (issue #17): every
// command says what it is for, defaults are said once, network and group
// objects are added from the command line, refusals name the objects they
// are about, and a settings file that does not parse shows where.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { FIXTURES, mailwarden, tempDir } from './helpers.ts';
import { buildProgram, walkCommands } from '../../src/cli/program.ts';
import { VERSION } from '../../src/core/version.ts';

const EXAMPLE = join(FIXTURES, 'example.yaml');

test('every command and every option in the help tree has a description; no default is said twice', () => {
  const all = walkCommands(buildProgram());
  // The tree is the real one: a walk that found nothing would pass anything.
  for (const name of ['admin list', 'admin token list', 'admin token revoke', 'network list', 'network add', 'group list', 'group add', 'policy explain']) {
    assert.ok(all.some((c) => c.name === name), `${name} is in the tree`);
  }
  const bare = all.filter((c) => c.command.description().trim() === '').map((c) => c.name);
  assert.deepEqual(bare, [], 'commands without a description');
  const bareOptions = all.flatMap((c) => (c.command.options as readonly Option[]).filter((o) => !o.description?.trim()).map((o) => `${c.name} ${o.flags}`));
  assert.deepEqual(bareOptions, [], 'options without a description');
  for (const { name, command } of all) {
    const help = (command as Command).helpInformation();
    const twice = help.split('\n').filter((l) => (l.match(/\(default:/g) ?? []).length > 1);
    assert.deepEqual(twice, [], `${name} --help says a default twice`);
    assert.doesNotMatch(help, /\(default: \[\]\)/, `${name} --help shows an empty list as a default`);
  }
});

test('--version prints the version of src/core/version.ts; policy explain --help says the --from default once', async () => {
  const [v, h] = await Promise.all([mailwarden(['--version']), mailwarden(['policy', 'explain', '--help'])]);
  assert.equal(v.status, 0);
  assert.equal(v.stdout, `${VERSION}\n`);
  assert.equal(h.status, 0, h.stderr);
  const from = h.stdout.split('\n').find((l) => l.includes('--from'));
  assert.ok(from, h.stdout);
  assert.equal(from.match(/default/g)?.length, 1, from);
  assert.match(from, /\(default: "<>"\)/);
});

test('network add: host, network, range and group; bad input is a usage error (exit 2) that changes nothing', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const add = (...args: string[]) => mailwarden(['network', 'add', ...args, '--data', data]);

  const usage = await Promise.all([
    add('legacy'),
    add('legacy', '--type', 'subnet', '--address', '10.0.0.0/8'),
    add('legacy', '--type', 'host', '--address', '010.1.2.3'),
    add('legacy', '--type', 'host', '--address', '10.1.0.0/16'),
    add('legacy', '--type', 'network', '--address', '10.1.2.3/16'),
    add('legacy', '--type', 'range', '--from', '10.0.0.1'),
    add('legacy', '--type', 'group'),
    add('legacy', '--type', 'host', '--address', '10.1.2.3', '--member', 'office'),
  ]);
  const expected = [/--type host\|network\|range\|group/, /"subnet" is not one of host, network, range, group/, /--address "010\.1\.2\.3": not a dotted-quad/, /use --type network/, /host bits are set; did you mean 10\.1\.0\.0\/16/, /a range takes --from ADDRESS --to ADDRESS/, /a group takes --member NAME/, /a host takes --address ADDRESS, not --member/];
  usage.forEach((r, i) => {
    assert.equal(r.status, 2, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, expected[i] as RegExp, `case ${i}`);
  });
  assert.equal(JSON.parse((await mailwarden(['config', 'history', '--json', '--data', data])).stdout).length, 1, 'no revision made by a refused add');

  const host = await add('mail1', '--type', 'host', '--address', '192.0.2.25', '--description', 'the old mail server', '--comment', 'for the migration');
  assert.equal(host.status, 0, host.stderr);
  assert.match(host.stdout, /added network object "mail1" \(host\) \(revision 2\)/);
  assert.equal((await add('office', '--type', 'network', '--address', '10.1.0.0/16')).status, 0);
  assert.equal((await add('dhcp', '--type', 'range', '--from', '10.2.0.10', '--to', '10.2.0.20')).status, 0);
  const group = await add('trusted', '--type', 'group', '--member', 'office', '--member', 'mail1');
  assert.equal(group.status, 0, group.stderr);

  const nets = JSON.parse((await mailwarden(['network', 'list', '--json', '--data', data])).stdout);
  assert.deepEqual(nets.slice(1), [
    { name: 'mail1', type: 'host', address: '192.0.2.25', comment: 'the old mail server' },
    { name: 'office', type: 'network', address: '10.1.0.0/16' },
    { name: 'dhcp', type: 'range', from: '10.2.0.10', to: '10.2.0.20' },
    { name: 'trusted', type: 'group', members: ['office', 'mail1'] },
  ]);
  const history = JSON.parse((await mailwarden(['config', 'history', '--json', '--data', data])).stdout);
  assert.equal(history.find((r: { number: number }) => r.number === 2)?.comment, 'for the migration');

  // Refused by the settings (exit 1), with the object named as well as the path.
  const dup = await add('office', '--type', 'host', '--address', '10.9.9.9');
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /network object "office" already exists/);
  const unknown = await add('partners', '--type', 'group', '--member', 'offfice');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /error: networks\[5\] \("partners"\)\.members\[0\]: unknown network object "offfice"/);
});

test('group add, and user add --group says which groups it created', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const g = await mailwarden(['group', 'add', 'staff', '--description', 'everybody', '--data', data]);
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /added user group "staff" \(revision 2\)/);
  const again = await mailwarden(['group', 'add', 'staff', '--data', data]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /user group "staff" already exists/);

  const carol = await mailwarden(['user', 'add', 'carol', '--group', 'staff', '--group', 'sales', '--password-stdin', '--data', data], { input: 'long enough pw\n' });
  assert.equal(carol.status, 0, carol.stderr);
  assert.match(carol.stdout, /created user group "sales"/);
  assert.doesNotMatch(carol.stdout, /created user group "staff"/, 'staff existed');
  const dave = await mailwarden(['user', 'add', 'dave', '--group', 'sales', '--password-stdin', '--data', data], { input: 'long enough pw\n' });
  assert.equal(dave.status, 0, dave.stderr);
  assert.doesNotMatch(dave.stdout, /created/);

  const groups = JSON.parse((await mailwarden(['group', 'list', '--json', '--data', data])).stdout);
  assert.deepEqual(groups, [
    { name: 'staff', members: ['carol'] },
    { name: 'sales', members: ['carol', 'dave'] },
  ]);
  const exported = JSON.parse((await mailwarden(['config', 'export', '--json', '--data', data])).stdout);
  assert.deepEqual(exported.groups[0], { name: 'staff', comment: 'everybody' });
});

test('a duration that does not parse gives one error, not a second one about the default standing in for it', async (t) => {
  const data = tempDir(t);
  const file = join(data, 'd.yaml');
  const check = async (yaml: string) => {
    writeFileSync(file, yaml);
    const r = await mailwarden(['config', 'check', file, '--data', data]);
    return { status: r.status, errors: r.stderr.split('\n').filter((l) => l.startsWith('error:')) };
  };
  const retry = await check('queue: { retry: { first: 10 minutes, max: 2m } }\n');
  assert.equal(retry.status, 1);
  assert.deepEqual(retry.errors, ['error: queue.retry.first: "10 minutes" is not a duration (a whole number and a unit: 250ms, 30s, 5m, 1h, 5d)']);
  const grey = await check('antispam: { greylisting: { delay: 10 minutes, expiry: 2m } }\n');
  assert.equal(grey.errors.length, 1, grey.errors.join('\n'));
  assert.match(grey.errors[0] ?? '', /antispam\.greylisting\.delay: "10 minutes" is not a duration/);
  // The comparison itself still runs when both parse.
  const order = await check('queue: { retry: { first: 10m, max: 2m } }\n');
  assert.deepEqual(order.errors, ['error: queue.retry.first: must not be longer than queue.retry.max']);
});

test('a settings file that does not parse shows the line with a caret under the column', async (t) => {
  const data = tempDir(t);
  const yaml = join(data, 'broken.yaml');
  writeFileSync(yaml, 'hostname: mx.example.com\nrelaying:\n  allowed_hosts: [office]\n  allowed_hosts: [dmz]\n');
  const imp = await mailwarden(['config', 'import', yaml, '--data', data]);
  assert.equal(imp.status, 1);
  assert.ok(imp.stderr.includes(`error: ${yaml}:4:3: Map keys must be unique\n  4 |   allowed_hosts: [dmz]\n    |   ^\n`), imp.stderr);

  const json = join(data, 'broken.json');
  writeFileSync(json, '{\n  "hostname": "mx.example.com",\n  "limits" {}\n}\n');
  const explain = await mailwarden(['policy', 'explain', '--config', json, '--client', '127.0.0.1', '--to', 'a@example.org']);
  assert.equal(explain.status, 2);
  assert.ok(explain.stderr.includes(`  3 |   "limits" {}\n    |            ^\n`), explain.stderr);
});

test('validation errors on the command line name the object as well as the path', async (t) => {
  const data = tempDir(t);
  const file = join(data, 'bad.yaml');
  writeFileSync(file, `networks:\n  - { name: office, type: network, address: 10.1.0.0/16 }\n  - { name: legacy, type: host, address: 010.1.2.3 }\nrelaying: { allowed_hosts: [office, ofice] }\n`);
  const r = await mailwarden(['config', 'check', file, '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error: networks\[1\] \("legacy"\)\.address: "010\.1\.2\.3": not a dotted-quad/);
  // A path whose element is a plain name is left as it is: the message quotes it.
  assert.match(r.stderr, /error: relaying\.allowed_hosts\[1\]: unknown network object "ofice"/);
  // The JSON output keeps the paths the API returns.
  const j = await mailwarden(['config', 'check', file, '--json', '--data', data]);
  assert.ok(JSON.parse(j.stdout).errors.some((e: { path: string }) => e.path === 'networks[1].address'), j.stdout);
  // And the same from an object command, looked up in the changed document.
  assert.equal((await mailwarden(['config', 'import', EXAMPLE, '--data', data])).status, 0);
  const user = await mailwarden(['user', 'add', 'erin', '--password-stdin', '--data', data], { input: 'short\n' });
  assert.equal(user.status, 1);
  assert.match(user.stderr, /error: users\[2\] \("erin"\)\.password: /);
});
