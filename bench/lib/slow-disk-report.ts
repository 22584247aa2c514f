// The slow-disk section of RESULTS.md (issue 22): the 1 KiB cells of 1 and 20
// sessions over reused connections with every flush made slower, next to the
// same cells on the machine's own disk from the same run, and the '.'→250
// latency with slow flushes.

import type { CellResult } from './matrix.ts';
import type { LatencyResult } from './extras.ts';
import { summarize, type Summary } from './stats.ts';

/** the relays measured on the slow disk: the two with a durable queue next to ours */
export const SLOW_RELAYS = ['postfix', 'mailwarden', 'haraka'];

export interface SlowDiskResult {
  delayUs: number;
  how: string;
  error?: string;
  cells: CellResult[];
  latency: LatencyResult[];
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}
const med = (s: Summary | undefined) => (s ? s.median : NaN);
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–');

export function renderSlowDisk(slow: SlowDiskResult, relays: { id: string; label: string }[], normal: CellResult[], normalLatency: LatencyResult[]): string[] {
  const ms = slow.delayUs / 1000;
  const out = [`## Slow disk: each flush + ${ms} ms (issue 22)`, ''];
  if (slow.error) return [...out, `Not measured: ${slow.error}`, ''];
  out.push(slow.how, '');
  out.push(`| size | sessions | relay | accepted msgs/s | ×PF | end-to-end msgs/s | ×PF | CPU ms/msg | flushes/msg (perf, warm-up) | delayed/msg (shim, repeats) | accepted on this machine's disk, same run | slow ÷ normal |`);
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const label = (id: string) => relays.find((r) => r.id === id)?.label ?? id;
  const cells = [...new Set(slow.cells.map((r) => r.cell))];
  for (const c of cells) {
    const pf = slow.cells.find((r) => r.cell === c && r.relay === 'postfix');
    const pfAcc = med(summarize(pf?.repeats.map((x) => x.acceptedPerSec) ?? []));
    const pfE2e = med(summarize(pf?.repeats.map((x) => x.e2ePerSec) ?? []));
    for (const r of slow.cells.filter((x) => x.cell === c)) {
      const acc = med(summarize(r.repeats.map((x) => x.acceptedPerSec)));
      const e2e = med(summarize(r.repeats.map((x) => x.e2ePerSec)));
      const cpu = med(summarize(r.repeats.map((x) => x.cpuMsPerMsg)));
      const n = normal.find((x) => x.relay === r.relay && x.cell.size === c.size && x.cell.sessions === c.sessions && x.cell.reuse === c.reuse);
      const nAcc = med(summarize(n?.repeats.map((x) => x.acceptedPerSec) ?? []));
      const isPf = r.relay === 'postfix';
      const err = r.error ? ` **failed: ${r.error.split('\n')[0]!.replace(/\|/g, '/')}**` : '';
      const flushes = r.fsyncsPerMsg !== undefined ? fmt(r.fsyncsPerMsg) : `– (${r.flushError ?? 'not counted'})`;
      out.push(`| ${c.size / 1024} KiB | ${c.sessions} | ${label(r.relay)} | ${fmt(acc)}${err} | ${isPf ? '' : ratio(acc, pfAcc)} | ${fmt(e2e)} | ${isPf ? '' : ratio(e2e, pfE2e)} | ${fmt(cpu)} | ${flushes} | ${fmt(r.delayedFlushesPerMsg)} | ${n ? fmt(nAcc) : 'not run'} | ${n ? ratio(acc, nAcc) : ''} |`);
    }
  }
  out.push('');
  out.push(`'.'→250 with slow flushes (\`bench/client.ts latency\`, 20 sessions over reused connections, 1 KiB, as in "Other figures"):`, '');
  out.push(`| relay | p50 ms | p99 ms | p99 ×PF | p99 on this machine's disk, same run | p99 target (mailwarden) |`, '|---|---|---|---|---|---|');
  const pfLat = slow.latency.find((l) => l.relay === 'postfix');
  for (const l of slow.latency) {
    const nl = normalLatency.find((x) => x.relay === l.relay);
    const target = l.relay === 'mailwarden' && !l.error ? (l.p99! < 50 ? '< 50 ms: met' : '< 50 ms: not met') : '';
    out.push(l.error
      ? `| ${label(l.relay)} | failed: ${l.error.split('\n')[0]!.replace(/\|/g, '/')} | | | | |`
      : `| ${label(l.relay)} | ${fmt(l.p50)} | ${fmt(l.p99)} | ${l.relay === 'postfix' || !pfLat?.p99 ? '' : ratio(l.p99!, pfLat.p99)} | ${nl?.p99 !== undefined ? fmt(nl.p99) : 'not run'} | ${target} |`);
  }
  const odd = slow.cells.filter((r) => r.notes.length || r.error);
  if (odd.length) {
    out.push('', 'Notes on these cells:', '');
    for (const r of odd) for (const n of [...(r.error ? [r.error.split('\n')[0]!] : []), ...r.notes]) out.push(`- ${label(r.relay)}, ${r.cell.sessions} session(s): ${n}`);
  }
  out.push('', 'The slow-disk figures are information (what flushes cost where they are expensive), not targets of `make bench`: the pass/fail count above is for this machine\'s own disk.', '');
  return out;
}
