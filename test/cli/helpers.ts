// Runs the real `bin/mailwarden` launcher in a child process, as an admin would.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/mailwarden');
export const FIXTURES = join(ROOT, 'test/fixtures');

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function mailwarden(args: string[], opts: { input?: string; cwd?: string } = {}): Promise<Run> {
  return new Promise((done) => {
    const child = execFile(BIN, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, PATH: '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ status, stdout, stderr });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

export function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `mailwarden ARGS`, killing it (status -1) if it has not exited within `ms`. */
export function runBounded(args: string[], ms = 20_000): Promise<Run & { timedOut: boolean }> {
  return new Promise((done) => {
    const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ status: code ?? -1, stdout, stderr, timedOut });
    });
  });
}
