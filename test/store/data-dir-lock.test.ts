// The data directory's lock (src/store/data-dir-lock.ts): one holder at a
// time; the pid file names the holder and is gone after a clean release, so
// that the next holder learns of a predecessor only when it died holding the
// lock (a real SIGKILLed process here), with its pid and start time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataDirInUse, lockDataDir } from '../../src/store/data-dir-lock.ts';

const MODULE = resolve(import.meta.dirname, '../../src/store/data-dir-lock.ts');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a fresh directory and one released cleanly have no previous holder', (t) => {
  const dir = tempDir(t);
  const before = Date.now();
  const first = lockDataDir(dir);
  assert.equal(first.previous, null);
  assert.ok(first.since >= before && first.since <= Date.now());
  assert.deepEqual(readFileSync(join(dir, 'daemon.pid'), 'utf8'), `${process.pid}\n${first.since}\n`);
  assert.throws(() => lockDataDir(dir), (e: unknown) => e instanceof DataDirInUse && e.message.includes(`(pid ${process.pid})`));
  first.release();
  const second = lockDataDir(dir);
  t.after(() => second.release());
  assert.equal(second.previous, null, 'a clean release leaves no holder behind');
});

test('a holder that was SIGKILLed is reported as the previous holder, with its pid and start time', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { lockDataDir } from ${JSON.stringify(MODULE)}; const l = lockDataDir(${JSON.stringify(dir)}); console.log(JSON.stringify({ since: l.since })); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const line = await new Promise<string>((done, fail) => {
    child.stdout.setEncoding('utf8');
    child.stdout.once('data', (d: string) => done(d));
    child.once('exit', (code) => fail(new Error(`the holder exited (${code}) before taking the lock`)));
  });
  const { since } = JSON.parse(line) as { since: number };
  assert.throws(() => lockDataDir(dir), (e: unknown) => e instanceof DataDirInUse && e.message.includes(`(pid ${child.pid})`), 'held while the child lives');
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
  const next = lockDataDir(dir);
  assert.deepEqual(next.previous, { pid: child.pid, since });
  // A start that fails before it took the dead process's place hands it on to the next one.
  next.release({ restorePrevious: true });
  const third = lockDataDir(dir);
  assert.deepEqual(third.previous, { pid: child.pid, since });
  third.release();
  const fourth = lockDataDir(dir);
  t.after(() => fourth.release());
  assert.equal(fourth.previous, null, 'a plain release forgets it');
});
