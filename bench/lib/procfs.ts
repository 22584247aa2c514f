// What the relays cost, read from /proc: the process tree under a relay's
// root pids, its CPU time (utime+stime of live processes plus cutime+cstime,
// which holds the time of children already reaped, so a short-lived Postfix
// smtpd is counted after it exits), and the sum of RSS of the tree. A Sampler
// reads the RSS sum at a fixed interval and keeps its peak; every tenth tick
// it also reads the PSS sum (smaps_rollup: shared pages divided among the
// processes that map them, fairer to a relay made of many processes, and
// dearer to read). cpuReading/othersPct tell how much CPU processes that are
// not ours used meanwhile (someone else's load disturbs the figures).

import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
export const PAGE_SIZE = Number(execFileSync('getconf', ['PAGESIZE']).toString().trim()) || 4096;

interface Stat { pid: number; ppid: number; ticks: number; ownTicks: number; rss: number }

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
  return { pid, ppid: n(4), ticks: n(14) + n(15) + n(16) + n(17), ownTicks: n(14) + n(15), rss: n(24) * PAGE_SIZE };
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
  return treeOf(roots, allStats());
}

function treeOf(roots: number[], stats: Stat[]): Stat[] {
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

export function pssBytes(roots: number[]): number {
  let sum = 0;
  for (const s of tree(roots)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${s.pid}/smaps_rollup`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return sum;
}

/**
 * A reading for telling how much CPU processes that are not ours used: the
 * CPU time of every process outside our own tree and outside the kernel's
 * threads (journal commits and softirq threads do work our relays cause).
 * Per process, not from /proc/stat: the machine-wide tick counts overstate
 * bursty many-process loads (Postfix) on this tickless kernel.
 */
export interface CpuReading { others: Map<number, number>; all: Set<number>; at: number }

export function cpuReading(): CpuReading {
  const stats = allStats();
  const ours = new Set(treeOf([process.pid], stats).map((s) => s.pid));
  const others = new Map<number, number>();
  for (const s of stats) {
    if (ours.has(s.pid) || s.pid === 2 || s.ppid === 2) continue;
    // init reaps orphans, ours among them (a relay's processes that outlive
    // their master while it stops): what it reaps is not someone's load now
    others.set(s.pid, s.pid === 1 ? s.ownTicks : s.ticks);
  }
  return { others, all: new Set(stats.map((s) => s.pid)), at: performance.now() };
}

/** CPU used by other processes between two readings, in % of one core. */
export function othersPct(a: CpuReading, b: CpuReading): number {
  let ticks = 0;
  for (const [pid, t] of b.others) {
    const before = a.others.get(pid);
    if (before !== undefined) ticks += Math.max(0, t - before);
    else if (!a.all.has(pid)) ticks += t; // started since the first reading
    // else: it was ours then (a relay's process orphaned while it stops): not someone else's load
  }
  return (100 * ((ticks * 1000) / CLK_TCK)) / Math.max(1, b.at - a.at);
}

/** Samples the RSS sum of a tree every `intervalMs` and keeps the peak. */
export class Sampler {
  peak = 0;
  peakPss = 0;
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly roots: () => number[];
  private readonly pssEvery: number;

  constructor(roots: () => number[], intervalMs: number, pssEvery = 10) {
    this.roots = roots;
    this.pssEvery = pssEvery;
    this.tick();
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  private tick(): void {
    const roots = this.roots();
    const v = rssBytes(roots);
    if (this.pssEvery > 0 && this.samples % this.pssEvery === 0) {
      const p = pssBytes(roots);
      if (p > this.peakPss) this.peakPss = p;
    }
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
