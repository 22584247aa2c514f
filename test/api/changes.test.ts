// Settings changes through the REST API and through the CLI take the same
// path (ConfigService): the same change gives the same document and the same
// refusals on both; a change made against a revision that is no longer
// active is a 409, never a 500, whoever made the other change (another
// request, or the CLI in another process); SMTP user passwords have the
// minimum length on the API too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mailwarden, tempDir } from '../cli/helpers.ts';
import { BIN, ROOT } from '../smtp/harness.ts';
import { startWithApi } from './client.ts';

test('the same user and group changes through the CLI and the API give the same settings and the same refusals', async (t) => {
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);

  type Outcome = { ok: boolean; message: string };
  const viaCli = async (args: string[], input?: string): Promise<Outcome> => {
    const r = await mailwarden([...args, '--data', data], input === undefined ? {} : { input });
    // The CLI names each object beside its path (`users[1] ("bob").password`); the API keeps the bare path (a contract).
    return { ok: r.status === 0, message: r.status === 0 ? '' : r.stderr.replace(/^mailwarden: /m, '').replace(/^(error: \S+?)\] \("[^"]*"\)/gm, '$1]').trim() };
  };
  const viaApi = async (method: string, path: string, body?: unknown): Promise<Outcome> => {
    const a = await api.call(method, path, { body, as: me });
    if (a.status < 300) return { ok: true, message: '' };
    const lines = [...(a.json.errors ?? []).map((e: { path: string; message: string }) => `error: ${e.path}: ${e.message}`), a.json.message ?? 'the change was refused'];
    return { ok: false, message: lines.join('\n') };
  };
  const steps: [string, () => Promise<Outcome>, () => Promise<Outcome>][] = [
    ['add alice in a group that does not exist yet', () => viaCli(['user', 'add', 'alice', '--group', 'staff', '--group', 'sales', '--password-stdin'], 'alice-password\n'), () => viaApi('POST', '/api/users', { name: 'alice', password: 'alice-password', groups: ['staff', 'sales'] })],
    ['add alice again', () => viaCli(['user', 'add', 'alice', '--password-stdin'], 'another-password\n'), () => viaApi('POST', '/api/users', { name: 'alice', password: 'another-password' })],
    ['a short password', () => viaCli(['user', 'add', 'bob', '--password-stdin'], 'x\n'), () => viaApi('POST', '/api/users', { name: 'bob', password: 'x' })],
    ['passwd of nobody', () => viaCli(['user', 'passwd', 'nobody', '--password-stdin'], 'long-enough\n'), () => viaApi('PUT', '/api/users/nobody', { password: 'long-enough' })],
    ['passwd too short', () => viaCli(['user', 'passwd', 'alice', '--password-stdin'], 'short\n'), () => viaApi('PUT', '/api/users/alice', { password: 'short' })],
    ['disable alice', () => viaCli(['user', 'disable', 'alice']), () => viaApi('PUT', '/api/users/alice', { enabled: false })],
    ['remove a group in use', () => viaCli(['group', 'remove', 'staff']), () => viaApi('DELETE', '/api/groups/staff')],
    ['remove an unknown network', () => viaCli(['network', 'remove', 'nowhere']), () => viaApi('DELETE', '/api/networks/nowhere')],
  ];
  for (const [what, cli, http] of steps) {
    const [a, b] = [await cli(), await http()];
    assert.deepEqual(b, a, what);
  }
  const cliDoc = JSON.parse((await mailwarden(['config', 'export', '--json', '--data', data])).stdout);
  const apiDoc = (await api.call('GET', '/api/settings', { as: me })).json.document;
  assert.deepEqual(apiDoc.users, cliDoc.users);
  assert.deepEqual(apiDoc.groups, cliDoc.groups);
  assert.deepEqual(cliDoc.users, [{ name: 'alice', groups: ['staff', 'sales'], enabled: false }]);
  assert.deepEqual(cliDoc.groups, [{ name: 'staff' }, { name: 'sales' }]);
});

test('the API shows why a short SMTP user password is refused (422), and nothing changes', async (t) => {
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const r = await api.call('POST', '/api/users', { body: { name: 'carol', password: 'x' }, as: me });
  assert.equal(r.status, 422);
  assert.equal(r.json.revision, null);
  assert.match(r.json.errors[0].message, /too short: 1 character, at least 8 needed \(limits\.min_password_length\)/);
  assert.deepEqual((await api.call('GET', '/api/users', { as: me })).json, []);
  const doc = (await api.call('GET', '/api/settings', { as: me })).json.document;
  const whole = await api.call('PUT', '/api/settings', { body: { document: { ...doc, users: [{ name: 'carol', password: 'short' }] } }, as: me });
  assert.equal(whole.status, 422, 'the whole document is held to it too');
});

test('two applies racing against the same base revision: one 200, the other 409', async (t) => {
  const { api, password } = await startWithApi(t);
  const me = await api.login('admin', password);
  const got = (await api.call('GET', '/api/settings', { as: me })).json;
  const put = (hostname: string) => api.call('PUT', '/api/settings', { body: { document: { ...got.document, hostname }, revision: got.revision }, as: me });
  const answers = await Promise.all([put('a.test.example'), put('b.test.example')]);
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409], answers.map((a) => a.text).join('\n'));
  const loser = answers.find((a) => a.status === 409)!;
  assert.match(loser.json.message, /changed since revision \d+ \(now \d+\): reload and apply again/);
  assert.equal((await api.call('GET', '/api/settings', { as: me })).json.revision, got.revision + 1, 'exactly one landed');
});

test('an API apply racing a CLI import of the same installation is 200 or 409, never 500', async (t) => {
  const { api, password, relay } = await startWithApi(t);
  const me = await api.login('admin', password);
  const got = (await api.call('GET', '/api/settings', { as: me })).json;
  // Forty new passwords to hash: the API's apply takes a while after it read the active revision.
  const users = Array.from({ length: 40 }, (_, i) => ({ name: `u${i}`, password: `password-${i}` }));
  const request = api.call('PUT', '/api/settings', { body: { document: { ...got.document, users }, revision: got.revision }, as: me });
  const file = join(relay.dataDir, 'cli.yaml');
  writeFileSync(file, stringify({ ...got.document, hostname: 'cli.test.example' }));
  const cli = new Promise<{ status: number | null; stderr: string }>((done) => {
    const child = spawn(BIN, ['config', 'import', file, '--data', relay.dataDir], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('close', (status) => done({ status, stderr }));
  });
  const [a, c] = await Promise.all([request, cli]);
  t.diagnostic(`API ${a.status}, CLI ${c.status}`);
  assert.ok(a.status === 200 || a.status === 409, `${a.status} ${a.text}`);
  assert.doesNotMatch(c.stderr, /\n\s+at /, 'no stack trace on the CLI either');
  const now = (await api.call('GET', '/api/settings', { as: me })).json;
  // Whatever the order, what is active is one whole change over the other, never a mix of stale reads.
  if (a.status === 200) assert.equal(now.document.users.length, 40);
  else assert.equal(now.document.users.length, 0);
});
