// `mailwarden config rollback N` shows what it would change against the
// active revision before it changes anything (issue #17): --dry-run only
// shows; without --yes a command whose stdin is not a terminal is refused
// (exit 2) instead of hanging or rolling back unasked; --yes applies; on a
// terminal (a pseudo-terminal through util-linux `script`) it asks, "n"
// keeps everything, "y" applies, and a change that landed while it asked
// refuses the rollback rather than applying something other than was shown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BIN, FIXTURES, ROOT, mailwarden, tempDir } from './helpers.ts';
import { missingComponent } from '../support/requires.ts';

const EXAMPLE = join(FIXTURES, 'example.yaml');
/** The pseudo-terminal comes from util-linux `script` (no native addon). */
const noScript = ['/usr/bin/script', '/bin/script'].some((f) => existsSync(f)) ? false : missingComponent('script (util-linux)', 'drives the CLI on a pseudo-terminal');

/** Revision 1: the example; revision 2: the same plus user carol and domain example.net. */
async function twoRevisions(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const data = tempDir(t);
  assert.equal((await mailwarden(['config', 'import', EXAMPLE, '--data', data])).status, 0);
  const more = readFileSync(EXAMPLE, 'utf8')
    .replace('users:\n', 'users:\n  - { name: carol, password: "carol-pw-123", groups: [] }\n')
    .replace('domains:\n', 'domains:\n  - { name: example.net, route: { hosts: ["10.1.2.4:25"] } }\n');
  const file = join(data, 'more.yaml');
  writeFileSync(file, more);
  const r = await mailwarden(['config', 'import', file, '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  return data;
}

async function state(data: string): Promise<{ revisions: number[]; active: number; users: string[]; domains: string[] }> {
  const h = JSON.parse((await mailwarden(['config', 'history', '--json', '--data', data])).stdout) as { number: number; active: boolean }[];
  const doc = parse((await mailwarden(['config', 'export', '--data', data])).stdout);
  return {
    revisions: h.map((r) => r.number),
    active: h.find((r) => r.active)?.number ?? 0,
    users: doc.users.map((u: { name: string }) => u.name),
    domains: doc.domains.map((d: { name: string }) => d.name),
  };
}

const AT_TWO = { revisions: [2, 1], active: 2, users: ['carol', 'alice', 'bob'], domains: ['example.net', 'example.com'] };

test('--dry-run shows the removed user and domain and changes nothing', async (t) => {
  const data = await twoRevisions(t);
  const r = await mailwarden(['config', 'rollback', '1', '--dry-run', '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^rollback to revision 1: 2 changes against the active revision 2$/m);
  assert.match(r.stdout, /^- users\["carol"\]: /m);
  assert.match(r.stdout, /^- domains\["example\.net"\]: /m);
  assert.doesNotMatch(r.stdout, /carol-pw-123/, 'no password is printed');
  assert.match(r.stdout, /dry run: nothing applied/);
  assert.deepEqual(await state(data), AT_TWO);

  const j = await mailwarden(['config', 'rollback', '1', '--dry-run', '--json', '--data', data]);
  assert.equal(j.status, 0, j.stderr);
  const preview = JSON.parse(j.stdout);
  assert.deepEqual([preview.revision, preview.active, preview.ok], [1, 2, true]);
  assert.deepEqual(preview.changes.map((c: { op: string; path: string }) => `${c.op} ${c.path}`).sort(), ['removed domains["example.net"]', 'removed users["carol"]']);
  assert.deepEqual(await state(data), AT_TWO);
});

test('without --yes, a stdin that is not a terminal is refused with exit 2 and nothing changes; --yes applies', async (t) => {
  const data = await twoRevisions(t);
  const r = await mailwarden(['config', 'rollback', '1', '--data', data], { input: 'y\n' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /stdin is not a terminal: add --yes/);
  const j = await mailwarden(['config', 'rollback', '1', '--json', '--data', data]);
  assert.equal(j.status, 2, j.stderr);
  assert.match(j.stderr, /--json asks no question: add --yes/);
  assert.equal(j.stdout, '');
  assert.deepEqual(await state(data), AT_TWO);

  const yes = await mailwarden(['config', 'rollback', '1', '--yes', '--json', '--data', data]);
  assert.equal(yes.status, 0, yes.stderr);
  const result = JSON.parse(yes.stdout);
  assert.equal(result.ok, true);
  assert.equal(result.revision.number, 3);
  assert.deepEqual(await state(data), { revisions: [3, 2, 1], active: 3, users: ['alice', 'bob'], domains: ['example.com'] });
});

/** `mailwarden ARGS` on a pseudo-terminal (util-linux `script`); `answer` is typed once the question is on screen. */
function onTerminal(args: string[], answer: (output: string) => Promise<string>): Promise<{ status: number; output: string }> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const child = spawn('script', ['-q', '-e', '-c', [BIN, ...args].map(quote).join(' '), '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let asked = false;
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`no end within 120 s; output: ${output}`));
    }, 120_000);
    const onData = (d: Buffer) => {
      output += d.toString('utf8');
      if (!asked && /\[y\/N\] /.test(output)) {
        asked = true;
        answer(output).then((line) => child.stdin.write(line), fail);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ status: code ?? -1, output });
    });
  });
}

test('on a terminal it shows the changes and asks: "n" keeps everything, "y" applies', { skip: noScript }, async (t) => {
  const data = await twoRevisions(t);
  const no = await onTerminal(['config', 'rollback', '1', '--data', data], async (shown) => {
    assert.match(shown, /- users\["carol"\]/);
    assert.match(shown, /- domains\["example\.net"\]/);
    return 'n\r';
  });
  assert.equal(no.status, 1, no.output);
  assert.match(no.output, /not confirmed: nothing applied/);
  assert.deepEqual(await state(data), AT_TWO);

  const yes = await onTerminal(['config', 'rollback', '1', '--data', data], async () => 'y\r');
  assert.equal(yes.status, 0, yes.output);
  assert.match(yes.output, /applied: revision 3 is active/);
  assert.deepEqual((await state(data)).users, ['alice', 'bob']);
});

test('a change applied while the question is on screen refuses the rollback', { skip: noScript }, async (t) => {
  const data = await twoRevisions(t);
  const third = join(data, 'third.yaml');
  writeFileSync(third, readFileSync(join(data, 'more.yaml'), 'utf8').replace('upstream_only: false', 'upstream_only: true'));
  const r = await onTerminal(['config', 'rollback', '1', '--data', data], async () => {
    const other = await mailwarden(['config', 'import', third, '--data', data]);
    assert.equal(other.status, 0, other.stderr);
    return 'y\r';
  });
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /the settings changed since revision 2 \(now 3\)/);
  const s = await state(data);
  assert.deepEqual([s.revisions, s.active, s.users], [[3, 2, 1], 3, ['carol', 'alice', 'bob']]);
});
