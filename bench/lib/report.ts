// Turns the results into the markdown that `make bench` prints and writes to
// bench/RESULTS.md: the matrix (median [min–max] of the repeats and the ratio
// of each median to Postfix's), the other figures, and pass/fail against the
// targets of issue #5, then how it was run.

import type { Cell, CellResult } from './matrix.ts';
import type { LatencyResult, IdleResult, BigResult } from './extras.ts';
import { summarize, type Summary } from './stats.ts';

export interface ReportInput {
  quick: boolean;
  started: Date;
  seconds: number;
  machine: string[];
  versions: string[];
  /** partial: a relay measured in some cells only (the cluster) */
  relays: { id: string; label: string; partial?: boolean }[];
  cells: Cell[];
  repeats: number;
  matrix: CellResult[];
  latency: LatencyResult[];
  idle: IdleResult | undefined;
  big: BigResult | undefined;
  notes: string[];
  method: string[];
  commands: string[];
  /** the cluster section (issue #15), already rendered */
  cluster: string[];
  /** the slow-disk section (issue 22), already rendered */
  slowDisk: string[];
}

const MB = 1e6;

function fmt(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function cellText(s: Summary | undefined, scale = 1): string {
  if (!s) return '–';
  if (s.n === 1) return fmt(s.median / scale);
  return `${fmt(s.median / scale)} [${fmt(s.min / scale)}–${fmt(s.max / scale)}]`;
}

function ratio(a: Summary | undefined, b: Summary | undefined): number {
  return a && b && b.median > 0 ? a.median / b.median : NaN;
}

const TARGET_RATIOS = [0.5, 1, 1.5, 2];

/** Two decimals, or three where two would round onto a target and hide which side it is on. */
function ratioText(r: number): string {
  if (!Number.isFinite(r)) return '–';
  const two = r.toFixed(2);
  return TARGET_RATIOS.some((t) => Number(two) === t && r !== t) ? `${r.toFixed(3)}×` : `${two}×`;
}

function sessionsText(n: number): string {
  return `${n} session${n === 1 ? '' : 's'}`;
}

function sizeText(n: number): string {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

/** Throughput target (× Postfix) of issue #5 for a cell. */
export function throughputTarget(c: Cell): number {
  if (c.sessions === 1) return 1;
  return c.size <= 1024 ? 2 : 1.5;
}
export const CPU_TARGET = 0.5;
export const IDLE_RSS_TARGET = 150 * MB;
export const BIG_GROWTH_TARGET = 30 * MB;
export const P99_TARGET_MS = 50;
/** issue 22: disk flushes per message, mailwarden at 1 KiB */
export const FLUSH_TARGET = 1.5;

/** Flushes per message of a cell (counted in its warm-up), or why there is no figure. */
export function flushText(r: CellResult | undefined): string {
  if (!r) return '–';
  if (r.fsyncsPerMsg !== undefined) return fmt(r.fsyncsPerMsg);
  return r.flushError ? `– (${r.flushError.replace(/\|/g, '/')})` : '–';
}

interface Figures { acc?: Summary; e2e?: Summary; cpu?: Summary; rss?: Summary; pss?: Summary; error?: string }

function figures(r: CellResult | undefined): Figures {
  if (!r) return { error: 'not run' };
  const f: Figures = {
    acc: summarize(r.repeats.map((x) => x.acceptedPerSec)),
    e2e: summarize(r.repeats.map((x) => x.e2ePerSec)),
    cpu: summarize(r.repeats.map((x) => x.cpuMsPerMsg)),
    rss: summarize(r.repeats.map((x) => x.peakRss)),
    pss: summarize(r.repeats.map((x) => x.peakPss)),
  };
  if (r.error) f.error = r.error.split('\n')[0]!;
  return f;
}

export interface Verdicts { passed: number; failed: number; lines: string[] }

export function render(inp: ReportInput): { markdown: string; verdicts: Verdicts } {
  const v: Verdicts = { passed: 0, failed: 0, lines: [] };
  const judge = (ok: boolean | undefined, what: string): string => {
    if (ok === undefined) { v.failed++; v.lines.push(`no figure: ${what}`); return 'FAIL (no figure)'; }
    if (ok) v.passed++; else { v.failed++; v.lines.push(what); }
    return ok ? 'pass' : 'FAIL';
  };
  const out: string[] = [];
  const title = inp.quick ? 'mailwarden benchmark (BENCH_QUICK: a tiny matrix to check the harness, not figures to quote)' : 'mailwarden benchmark';
  out.push(`# ${title}`, '');
  out.push(`Run ${inp.started.toISOString().replace(/\.\d+Z$/, 'Z')}, ${(inp.seconds / 60).toFixed(1)} minutes, by \`${inp.quick ? 'BENCH_QUICK=1 make bench' : 'make bench'}\`. ` +
    `Each cell: ${inp.repeats} repeats after a warm-up on a freshly started relay; figures are the median [min–max] of the repeats; ×PF is the median over Postfix's median in the same cell. ` +
    'Throughput: higher is better; CPU and RSS: lower is better. MB = 10⁶ bytes.', '');

  out.push('## Load matrix (smtp-source → relay → smtp-sink)', '');
  out.push('| size | sessions | connections | msgs/run | relay | accepted msgs/s | ×PF | end-to-end msgs/s | ×PF | CPU ms/msg | ×PF | flushes/msg | peak RSS MB | ×PF | peak PSS MB | ×PF | targets (mailwarden) |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const c of inp.cells) {
    const pf = figures(inp.matrix.find((r) => r.relay === 'postfix' && r.cell === c));
    for (const relay of inp.relays) {
      const r = inp.matrix.find((x) => x.relay === relay.id && x.cell === c);
      if (!r && relay.partial) continue; // the cluster relays run in some cells only
      const f = figures(r);
      const isPf = relay.id === 'postfix';
      const rt = (a: Summary | undefined, b: Summary | undefined) => (isPf ? '' : ratioText(ratio(a, b)));
      let target = '';
      if (relay.id === 'mailwarden') {
        const t = throughputTarget(c);
        const name = `${sizeText(c.size)}, ${sessionsText(c.sessions)}, ${c.reuse ? 'reused' : 'new'} connections`;
        const parts: string[] = [];
        const check = (label: string, a: Summary | undefined, b: Summary | undefined, ok: (x: number) => boolean, goal: string) => {
          const x = ratio(a, b);
          const res = judge(Number.isFinite(x) ? ok(x) : undefined, `${name}: ${label} ${ratioText(x)} of Postfix, target ${goal}`);
          parts.push(`${label} ${goal}: ${res}`);
        };
        check('accepted', f.acc, pf.acc, (x) => x >= t, `≥ ${t}×`);
        check('e2e', f.e2e, pf.e2e, (x) => x >= t, `≥ ${t}×`);
        check('CPU', f.cpu, pf.cpu, (x) => x <= CPU_TARGET, `≤ ${CPU_TARGET}×`);
        if (c.size <= 1024) {
          const n = r?.fsyncsPerMsg;
          const why = n === undefined ? ` (${r?.flushError ?? 'not counted'})` : '';
          const res = judge(n === undefined ? undefined : n <= FLUSH_TARGET, `${name}: ${n === undefined ? 'no flush count' + why : fmt(n) + ' disk flushes per message'}, target at most ${FLUSH_TARGET}`);
          parts.push(`flushes ≤ ${FLUSH_TARGET}/msg: ${res}${n === undefined ? why : ''}`);
        }
        target = parts.join('; ');
      } else if (isPf) {
        target = '(reference)';
      }
      const err = f.error ? ` **failed: ${f.error.replace(/\|/g, '/')}**` : '';
      out.push(`| ${sizeText(c.size)} | ${c.sessions} | ${c.reuse ? 'reused (-d)' : 'new per msg'} | ${c.count} | ${relay.label} | ${cellText(f.acc)}${err} | ${rt(f.acc, pf.acc)} | ${cellText(f.e2e)} | ${rt(f.e2e, pf.e2e)} | ${cellText(f.cpu)} | ${rt(f.cpu, pf.cpu)} | ${flushText(r)} | ${cellText(f.rss, MB)} | ${rt(f.rss, pf.rss)} | ${cellText(f.pss, MB)} | ${rt(f.pss, pf.pss)} | ${target} |`);
    }
  }
  out.push('');

  out.push('## Other figures', '');
  out.push('| figure | relay | value | ×PF | target | result |');
  out.push('|---|---|---|---|---|---|');
  const pfLat = inp.latency.find((l) => l.relay === 'postfix');
  for (const key of ['p50', 'p99'] as const) {
    for (const relay of inp.relays) {
      const l = inp.latency.find((x) => x.relay === relay.id);
      if (!l) continue;
      const val = l.error ? `failed: ${l.error.split('\n')[0]!.replace(/\|/g, '/')}` : `${fmt(l[key]!)} ms (${l.count} msgs)`;
      const rt = relay.id === 'postfix' || l.error || !pfLat || pfLat.error ? '' : ratioText(l[key]! / pfLat[key]!);
      let target = '';
      let result = '';
      if (relay.id === 'mailwarden' && key === 'p99') {
        target = `< ${P99_TARGET_MS} ms`;
        result = judge(l.error ? undefined : l.p99! < P99_TARGET_MS, `p99 '.'→250 at 20 sessions: ${l.error ? 'failed' : fmt(l.p99!) + ' ms'}, target < ${P99_TARGET_MS} ms`);
      }
      out.push(`| ${key} time from the final "." to the 250, 20 sessions reusing connections, 1 KiB | ${relay.label} | ${val} | ${rt} | ${target} | ${result} |`);
    }
  }
  if (inp.idle) {
    const i = inp.idle;
    const ok = i.error ? undefined : i.withIdle! < IDLE_RSS_TARGET;
    const val = i.withIdle !== undefined ? `${fmt(i.withIdle / MB)} MB (${fmt(i.baseline! / MB)} MB before; ${i.greeted} greeted)${i.error ? ' ' + i.error : ''}` : `failed: ${i.error}`;
    out.push(`| RSS with 1,000 idle connections open | mailwarden | ${val} | | < ${IDLE_RSS_TARGET / MB} MB | ${judge(ok, `RSS with 1,000 idle connections: ${i.withIdle !== undefined ? fmt(i.withIdle / MB) + ' MB' : 'failed'}, target < 150 MB`)} |`);
  }
  if (inp.big) {
    const b = inp.big;
    const ok = b.error ? undefined : b.growth! < BIG_GROWTH_TARGET;
    const val = b.error ? `failed: ${b.error.split('\n')[0]}` : `+${fmt(b.growth! / MB)} MB (${fmt(b.baseline! / MB)} → peak ${fmt(b.peak! / MB)} MB; 250 after ${fmt(b.acceptSeconds!)} s, at the sink after ${fmt(b.e2eSeconds!)} s)`;
    out.push(`| RSS increase while one 50,000,000-octet message streams through | mailwarden | ${val} | | < ${BIG_GROWTH_TARGET / MB} MB | ${judge(ok, `RSS growth for the 50 MB message: ${b.error ? 'failed' : fmt(b.growth! / MB) + ' MB'}, target < 30 MB`)} |`);
  }
  out.push('');
  out.push(`**Targets: ${v.passed} pass, ${v.failed} fail.**`, '');
  if (v.lines.length) {
    out.push('Failed targets:', '', ...v.lines.map((l) => `- ${l}`), '');
  }

  out.push(...inp.slowDisk);
  out.push(...inp.cluster);

  const problems = inp.matrix.filter((r) => r.error || r.notes.length);
  if (problems.length || inp.notes.length) {
    out.push('## What went wrong or looked odd', '');
    for (const n of inp.notes) out.push(`- ${n}`);
    for (const r of problems) {
      const c = r.cell;
      const where = `${r.relay}, ${sizeText(c.size)}, ${sessionsText(c.sessions)}, ${c.reuse ? 'reused' : 'new'} connections`;
      if (r.error) out.push(`- ${where}: ${r.error.split('\n')[0]} (${r.repeats.length} of ${inp.repeats} repeats done)` + (r.error.includes('\n') ? '\n\n  ```\n' + r.error.split('\n').slice(1).map((l) => '  ' + l).join('\n') + '\n  ```' : ''));
      for (const n of r.notes) out.push(`- ${where}: ${n}`);
    }
    out.push('');
  }

  out.push('## Machine', '', ...inp.machine, '');
  out.push('## Versions', '', ...inp.versions.map((x) => `- ${x}`), '');
  out.push('## How each figure is measured', '', ...inp.method, '');
  out.push('## Exact commands', '', ...inp.commands, '');
  return { markdown: out.join('\n'), verdicts: v };
}
