// The machine the figures come from: cores, CPU model, memory, kernel, the
// file system of the scratch dir and how many write+fsync of 4 KiB it does per
// second (the bound on any durable queue), and the load average when we start.

import { openSync, writeSync, fsyncSync, closeSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { availableParallelism, totalmem, release } from 'node:os';

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '?';
  }
}

/** write(4 KiB) + fsync, repeated for `ms`, in `dir`; returns operations per second. */
export function fsyncRate(dir: string, ms = 1500): number {
  const file = join(dir, `.fsync-test-${process.pid}`);
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(4096, 0x61);
  let n = 0;
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < ms) {
      writeSync(fd, buf, 0, buf.length, (n % 64) * 4096);
      fsyncSync(fd);
      n++;
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return n / ((performance.now() - t0) / 1000);
}

export interface Machine { lines: string[] }

export function describeMachine(workDir: string): string[] {
  const model = sh('lscpu', []).split('\n').find((l) => l.startsWith('Model name:'))?.replace(/^Model name:\s*/, '') ?? '?';
  const df = sh('df', ['-hT', workDir]).split('\n')[1]?.split(/\s+/) ?? [];
  const rate = fsyncRate(workDir);
  return [
    `- cores: ${sh('nproc', [])} (availableParallelism ${availableParallelism()}), CPU: ${model}`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- kernel: ${sh('uname', ['-sr']) || release()}, ${sh('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"'])}`,
    `- scratch dir file system: ${df[1] ?? '?'} on ${df[0] ?? '?'}; write 4 KiB + fsync: ${Math.round(rate)} per second`,
    `- load average when the run started: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  ];
}
