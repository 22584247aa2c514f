// The command line's own manners: `--version` / `-V` print the package
// version, and a reader that goes away (`mailwarden … | head -2`) ends the
// command quietly instead of with a write EPIPE stack trace.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, mailwarden, ROOT, tempDir } from './helpers.ts';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('--version and -V print the package version and exit 0', async () => {
  for (const flag of ['--version', '-V']) {
    const r = await mailwarden([flag]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${VERSION}\n`);
    assert.equal(r.stderr, '');
  }
});

/** Runs the command with its stdout pipe already closed by the reader, as `| head` does once it has enough. */
function closedReader(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('close', (status) => done({ status, stderr }));
  });
}

test('a reader that stops reading (| head) ends the command quietly, with no EPIPE stack', async (t) => {
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  for (const args of [['config', 'history'], ['config', 'export'], ['network', 'list'], ['--help']]) {
    const r = await closedReader([...args, '--data', data]);
    assert.equal(r.stderr, '', `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.status, 0, args.join(' '));
  }
});

test('queue commands on a data directory that holds no configuration say so in a sentence, without a stack trace', async (t) => {
  const data = tempDir(t);
  for (const args of [['queue', 'retry', '--all'], ['queue', 'hold', '0000000000000000']]) {
    const r = await mailwarden([...args, '--data', data]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /holds no configuration yet: run `mailwarden init` or `mailwarden start` first/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('a mistyped --data does not read as an empty queue or as the embedded defaults', async (t) => {
  const missing = join(tempDir(t), 'no-such-dir');
  for (const args of [['queue', 'list'], ['quarantine', 'list'], ['status']]) {
    const r = await mailwarden([...args, '--data', missing]);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, /check --data/);
    assert.doesNotMatch(r.stdout, /the queue is empty|revision 0/);
  }
  // A real data directory still lists its (empty) queue.
  const data = tempDir(t);
  assert.equal((await mailwarden(['init', '--data', data])).status, 0);
  const ok = await mailwarden(['queue', 'list', '--data', data]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /the queue is empty/);
});
