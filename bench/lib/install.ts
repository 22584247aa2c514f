// Installs what the benchmark needs when it is missing: Debian's postfix
// (which brings smtp-source and smtp-sink) without letting apt start any
// service (a policy-rc.d that says 101 for the duration, and debconf's "No
// configuration"), and Haraka from npm into the scratch dir. Both bounded in
// time. Nothing is installed when it is already there.

import { existsSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { run } from './procs.ts';

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

function postfixInstalled(): boolean {
  try {
    const st = execFileSync('dpkg-query', ['-W', '-f=${Status}', 'postfix'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return st.includes('install ok installed') && existsSync('/usr/sbin/smtp-source') && existsSync('/usr/sbin/smtp-sink');
  } catch {
    return false;
  }
}

export async function ensurePostfix(log: (s: string) => void): Promise<void> {
  if (postfixInstalled()) return;
  if (process.getuid?.() !== 0) throw new Error('Debian package postfix is missing and we are not root: apt-get install postfix (no configuration), then run again');
  log('installing Debian package postfix (no service is started) ...');
  const ours = !existsSync(POLICY_RC_D);
  if (ours) writeFileSync(POLICY_RC_D, '#!/bin/sh\n# bench: no service starts during this install\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const sel = await run('debconf-set-selections', '/bin/sh', ['-c', "echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections"], { timeoutMs: 30_000, env });
    if (sel.code !== 0) throw new Error(`debconf-set-selections: ${sel.stderr}`);
    const upd = await run('apt-get update', 'apt-get', ['update', '-qq'], { timeoutMs: 300_000, env });
    if (upd.code !== 0) throw new Error(`apt-get update: ${upd.stderr}`);
    const inst = await run('apt-get install postfix', 'apt-get', ['install', '-y', '-qq', 'postfix'], { timeoutMs: 600_000, env });
    if (inst.code !== 0) throw new Error(`apt-get install postfix: ${inst.stderr}`);
  } finally {
    if (ours) rmSync(POLICY_RC_D, { force: true });
  }
  if (!postfixInstalled()) throw new Error('postfix still missing after apt-get install');
}

/** Haraka in WORK/haraka (its own package.json); returns that directory. */
export async function ensureHaraka(work: string, log: (s: string) => void): Promise<string> {
  const dir = join(work, 'haraka-pkg');
  if (existsSync(join(dir, 'node_modules', 'Haraka', 'bin', 'haraka'))) return dir;
  log('installing Haraka from npm into ' + dir + ' ...');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench-haraka', private: true, description: 'Haraka for make bench' }, null, 2) + '\n');
  const r = await run('npm install Haraka', 'npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', 'Haraka@latest'], { cwd: dir, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`npm install Haraka failed (${r.timedOut ? 'timed out' : r.code}): ${r.stderr}`);
  if (!existsSync(join(dir, 'node_modules', 'Haraka', 'bin', 'haraka'))) throw new Error('Haraka missing after npm install');
  return dir;
}
