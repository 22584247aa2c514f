// Counting fsyncs: `perf stat` on the syscall tracepoints fsync and fdatasync,
// attached to every process of a relay's tree as it is (-p) and inheriting to
// the threads and processes they start afterwards (a Postfix smtpd, a
// PostgreSQL backend, libuv's pool threads). A traced task takes the slower
// system-call path, so the harness counts only during the warm-up, never
// during a measured repeat.

import { readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { start, stopGroup, type Spawned } from './procs.ts';
import { tree } from './procfs.ts';

export const PERF = '/usr/bin/perf';
const EVENTS = ['syscalls:sys_enter_fsync', 'syscalls:sys_enter_fdatasync'];

export function perfAvailable(): boolean {
  return existsSync(PERF) && (existsSync('/sys/kernel/tracing/events/syscalls/sys_enter_fsync') || existsSync('/sys/kernel/debug/tracing/events/syscalls/sys_enter_fsync'));
}

function threads(pid: number): number {
  try { return readdirSync(`/proc/${pid}/task`).length; } catch { return 0; }
}

function perfFds(pid: number): number {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try { if (readlinkSync(`/proc/${pid}/fd/${fd}`).includes('perf_event')) n++; } catch { /* closed */ }
    }
  } catch { /* gone */ }
  return n;
}

export class FsyncCounter {
  private readonly proc: Spawned;
  private readonly out: string;
  private constructor(proc: Spawned, out: string) {
    this.proc = proc;
    this.out = out;
  }

  /** Attaches to the trees under `roots`; resolves once every counter is open (bounded). */
  static async start(roots: number[], outFile: string): Promise<FsyncCounter | undefined> {
    if (!perfAvailable()) return undefined;
    const pids = tree(roots).map((s) => s.pid);
    if (pids.length === 0) return undefined;
    const expected = EVENTS.length * pids.reduce((a, p) => a + threads(p), 0);
    const proc = start('perf stat', PERF, ['stat', '-x', ',', '-o', outFile, '-e', EVENTS.join(','), '-p', pids.join(',')]);
    const until = Date.now() + 5000;
    while (Date.now() < until && perfFds(proc.pid) < expected) await sleep(20);
    return new FsyncCounter(proc, outFile);
  }

  /** Stops perf (SIGINT makes it print) and returns fsync + fdatasync calls, or NaN. */
  async stop(): Promise<number> {
    try { process.kill(this.proc.pid, 'SIGINT'); } catch { /* gone */ }
    await Promise.race([this.proc.exited, sleep(5000)]);
    await stopGroup(this.proc.pid, 0);
    let text = '';
    try { text = readFileSync(this.out, 'utf8'); } catch { return NaN; }
    let sum = 0;
    let seen = 0;
    for (const line of text.split('\n')) {
      const f = line.split(',');
      if (f.length > 2 && EVENTS.includes(f[2]!)) {
        const v = Number(f[0]);
        if (!Number.isFinite(v)) return NaN;
        sum += v;
        seen++;
      }
    }
    return seen === EVENTS.length ? sum : NaN;
  }
}
