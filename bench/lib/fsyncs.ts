// Counting disk flushes: `perf stat` on the syscall tracepoints of every call
// that makes data durable (fsync, fdatasync, sync_file_range, msync, syncfs),
// attached to every process of a relay's tree as it is (-p) and inheriting to
// the threads and processes they start afterwards (a Postfix smtpd, a
// PostgreSQL backend, libuv's pool threads). A traced task takes the slower
// system-call path, so the harness counts only during the warm-up, never
// during a measured repeat.

import { readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { start, stopGroup, type Spawned } from './procs.ts';
import { tree } from './procfs.ts';

export const PERF = '/usr/bin/perf';
/** the calls counted as disk flushes; msync and sync_file_range count whatever their flags */
export const FLUSH_CALLS = ['fsync', 'fdatasync', 'sync_file_range', 'msync', 'syncfs'] as const;
const event = (call: string) => `syscalls:sys_enter_${call}`;

export interface PerfProbe { ok: boolean; calls: string[]; error?: string }
let probed: PerfProbe | undefined;

/**
 * Whether perf can count the flush tracepoints here, and which of them exist.
 * A first `perf stat` also mounts tracefs (/sys/kernel/tracing) when nothing
 * has yet, so the probe runs perf rather than looking for the files first.
 */
export function perfProbe(): PerfProbe {
  if (probed) return probed;
  if (!existsSync(PERF)) return (probed = { ok: false, calls: [], error: `${PERF} is not installed` });
  const r = spawnSync(PERF, ['stat', '-x', ',', '-e', event('fsync'), '--', 'true'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return (probed = { ok: false, calls: [], error: `perf stat -e ${event('fsync')} failed (${r.error?.message ?? 'exit ' + r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}` });
  const dirs = ['/sys/kernel/tracing/events/syscalls', '/sys/kernel/debug/tracing/events/syscalls'];
  const calls = FLUSH_CALLS.filter((c) => dirs.some((d) => existsSync(`${d}/sys_enter_${c}`)));
  if (!calls.includes('fsync')) return (probed = { ok: false, calls: [], error: 'perf ran, but the kernel has no syscalls:sys_enter_fsync tracepoint (CONFIG_FTRACE_SYSCALLS off?)' });
  return (probed = { ok: true, calls });
}

export function perfAvailable(): boolean {
  return perfProbe().ok;
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

/** What a counter saw: every flush call, and each kind apart. */
export interface FlushCount { total: number; byCall: Record<string, number> }

export class FsyncCounter {
  private readonly proc: Spawned;
  private readonly out: string;
  private readonly calls: string[];
  private constructor(proc: Spawned, out: string, calls: string[]) {
    this.proc = proc;
    this.out = out;
    this.calls = calls;
  }

  /** Attaches to the trees under `roots`; resolves once every counter is open (bounded). */
  static async start(roots: number[], outFile: string): Promise<FsyncCounter | undefined> {
    const probe = perfProbe();
    if (!probe.ok) return undefined;
    const pids = tree(roots).map((s) => s.pid);
    if (pids.length === 0) return undefined;
    const expected = probe.calls.length * pids.reduce((a, p) => a + threads(p), 0);
    const proc = start('perf stat', PERF, ['stat', '-x', ',', '-o', outFile, '-e', probe.calls.map(event).join(','), '-p', pids.join(',')]);
    const until = Date.now() + 5000;
    while (Date.now() < until && perfFds(proc.pid) < expected) await sleep(20);
    return new FsyncCounter(proc, outFile, probe.calls);
  }

  /** Stops perf (SIGINT makes it print) and returns the flush calls, or undefined when perf printed no full count. */
  async stopDetailed(): Promise<FlushCount | undefined> {
    try { process.kill(this.proc.pid, 'SIGINT'); } catch { /* gone */ }
    await Promise.race([this.proc.exited, sleep(5000)]);
    await stopGroup(this.proc.pid, 0);
    let text = '';
    try { text = readFileSync(this.out, 'utf8'); } catch { return undefined; }
    const byCall: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const f = line.split(',');
      const call = this.calls.find((c) => f.length > 2 && f[2] === event(c));
      if (!call) continue;
      const v = Number(f[0]);
      if (!Number.isFinite(v)) return undefined;
      byCall[call] = v;
    }
    if (Object.keys(byCall).length !== this.calls.length) return undefined;
    return { total: Object.values(byCall).reduce((a, b) => a + b, 0), byCall };
  }

  /** Stops perf and returns every flush call, or NaN. */
  async stop(): Promise<number> {
    return (await this.stopDetailed())?.total ?? NaN;
  }
}
