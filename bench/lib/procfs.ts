// What the relays cost, read from /proc: the process tree under a relay's
// root pids, its CPU time (utime+stime of live processes plus cutime+cstime,
// which holds the time of children already reaped, so a short-lived Postfix
// smtpd is counted after it exits), and the sum of RSS of the tree. A Sampler
// reads the RSS sum at a fixed interval and keeps its peak.

import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
export const PAGE_SIZE = Number(execFileSync('getconf', ['PAGESIZE']).toString().trim()) || 4096;

interface Stat { pid: number; ppid: number; ticks: number; rss: number }

function readStat(pid: number): Stat | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid=4, utime=14, stime=15, cutime=16, cstime=17, rss=24
  const n = (field: number) => Number(f[field - 3] ?? 0);
  return { pid, ppid: n(4), ticks: n(14) + n(15) + n(16) + n(17), rss: n(24) * PAGE_SIZE };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const st = readStat(Number(name));
    if (st) out.push(st);
  }
  return out;
}

/** The roots and all their descendants, as they are now. */
export function tree(roots: number[]): Stat[] {
  const stats = allStats();
  const byParent = new Map<number, Stat[]>();
  const byPid = new Map<number, Stat>();
  for (const s of stats) {
    byPid.set(s.pid, s);
    const list = byParent.get(s.ppid);
    if (list) list.push(s); else byParent.set(s.ppid, [s]);
  }
  const out: Stat[] = [];
  const seen = new Set<number>();
  const stack = roots.filter((p) => byPid.has(p));
  while (stack.length) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const st = byPid.get(pid);
    if (st) out.push(st);
    for (const c of byParent.get(pid) ?? []) stack.push(c.pid);
  }
  return out;
}

/** CPU milliseconds used so far by the tree (including reaped children). */
export function cpuMs(roots: number[]): number {
  let ticks = 0;
  for (const s of tree(roots)) ticks += s.ticks;
  return (ticks * 1000) / CLK_TCK;
}

export function rssBytes(roots: number[]): number {
  let sum = 0;
  for (const s of tree(roots)) sum += s.rss;
  return sum;
}

/** Samples the RSS sum of a tree every `intervalMs` and keeps the peak. */
export class Sampler {
  peak = 0;
  samples = 0;
  last = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly roots: () => number[];

  constructor(roots: () => number[], intervalMs: number) {
    this.roots = roots;
    this.tick();
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  private tick(): void {
    const v = rssBytes(this.roots());
    this.last = v;
    this.samples++;
    if (v > this.peak) this.peak = v;
  }

  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tick();
    return this.peak;
  }
}
