// One cell of the load matrix against one relay: a fresh sink and a fresh
// relay, a short warm-up, then the measured repeats. Each repeat runs
// smtp-source (bounded in time) and measures: accepted msgs/s (COUNT over
// smtp-source's wall time), end-to-end msgs/s (COUNT over the time until the
// sink's counter has all COUNT), CPU ms per message of the relay's process
// tree (from just before smtp-source starts until the sink has everything,
// plus a short settle), and the peak of the tree's summed RSS (sampled).

import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './procs.ts';
import { cpuMs, cpuReading, othersPct, Sampler } from './procfs.ts';
import { summarize } from './stats.ts';
import { Sink } from './sink.ts';
import { FsyncCounter, perfProbe } from './fsyncs.ts';
import type { Relay, RelayInstance } from '../relays/types.ts';

export const SMTP_SOURCE = '/usr/sbin/smtp-source';
/** above this much CPU (% of one core) used by others during a repeat, the cell gets a note */
export const OTHER_CPU_NOTE_PCT = 25;

export interface Cell {
  /** payload octets (-l) */
  size: number;
  sessions: number;
  /** true: connections reused (smtp-source -d) */
  reuse: boolean;
  /** messages per repeat */
  count: number;
  warmup: number;
}

export interface Repeat {
  acceptedPerSec: number;
  e2ePerSec: number;
  cpuMsPerMsg: number;
  peakRss: number;
  peakPss: number;
  /** CPU used meanwhile by processes that are not ours, in % of one core */
  otherCpuPct: number;
  /** CPU ms per message by part (relays with parts) */
  split?: Record<string, number>;
  /** per message, from the database (relays with one) */
  db?: { walBytes: number; statements: number; commits: number };
}

export interface CellResult {
  relay: string;
  cell: Cell;
  repeats: Repeat[];
  error?: string;
  notes: string[];
  seconds: number;
  /** disk flushes (fsync, fdatasync, sync_file_range, msync, syncfs calls) per message of the relay's tree, counted during the warm-up */
  fsyncsPerMsg?: number;
  /** the same by call, per message */
  flushesByCall?: Record<string, number>;
  /** why there is no flush count (perf not usable, no full count) */
  flushError?: string;
  /** the slow-disk shim's own count of the flushes it delayed, per message, over the measured repeats */
  delayedFlushesPerMsg?: number;
}

export interface CellOptions {
  /** count flushes during the warm-up (perf; never during a measured repeat) */
  fsyncs?: boolean;
  /** environment of the relay's processes (the slow-disk shim) */
  env?: NodeJS.ProcessEnv;
  /** a running count of flushes kept by the relay's processes themselves (the slow-disk shim), read around the repeats */
  flushCounter?: () => number;
}

export interface Limits {
  sourceTimeoutMs: number;
  e2eTimeoutMs: number;
  sampleMs: number;
  settleMs: number;
}

export function cellId(c: Cell): string {
  return `${c.size >= 1024 ? c.size / 1024 + 'k' : c.size + 'b'}-s${c.sessions}-${c.reuse ? 'reuse' : 'new'}`;
}

export function sourceArgs(c: { size: number; sessions: number; reuse: boolean }, count: number | string, port: number | string): string[] {
  return [
    ...(c.reuse ? ['-d'] : []),
    '-s', String(c.sessions), '-m', String(count), '-l', String(c.size),
    '-M', 'bench.test', '-f', 'a@bench.test', '-t', 'b@bench.test',
    `127.0.0.1:${port}`,
  ];
}

async function load(inst: RelayInstance, sink: Sink, c: Cell, count: number, limits: Limits, measure: boolean): Promise<Repeat> {
  const base = sink.count;
  const r0 = cpuReading();
  const cpu0 = measure ? cpuMs(inst.roots()) : 0;
  const parts = measure && inst.parts ? inst.parts() : [];
  const split0 = parts.map((p) => cpuMs(p.roots));
  const db0 = measure && inst.db ? await inst.db.reading() : undefined;
  const sampler = measure ? new Sampler(() => inst.roots(), limits.sampleMs) : undefined;
  try {
    const t0 = performance.now();
    const src = await run('smtp-source', SMTP_SOURCE, sourceArgs(c, count, inst.port), { timeoutMs: limits.sourceTimeoutMs });
    const tAccepted = performance.now();
    if (src.timedOut) throw new Error(`smtp-source did not finish within ${limits.sourceTimeoutMs / 1000} s (sink has ${sink.count - base} of ${count})`);
    if (src.code !== 0) throw new Error(`smtp-source exited ${src.code}${src.signal ? ' ' + src.signal : ''}: ${(src.stderr || src.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    const all = await sink.waitFor(base + count, limits.e2eTimeoutMs);
    const tAll = performance.now();
    if (!all) throw new Error(`the sink had ${sink.count - base} of ${count} messages ${limits.e2eTimeoutMs / 1000} s after smtp-source finished`);
    if (!measure) return { acceptedPerSec: 0, e2ePerSec: 0, cpuMsPerMsg: 0, peakRss: 0, peakPss: 0, otherCpuPct: 0 };
    await sleep(limits.settleMs);
    const cpu1 = cpuMs(inst.roots());
    const split1 = parts.map((p) => cpuMs(p.roots));
    const peakRss = sampler!.stop();
    const others = othersPct(r0, cpuReading());
    let db: Repeat['db'];
    if (db0 && inst.db) {
      const d = await inst.db.delta(db0, await inst.db.reading());
      db = { walBytes: d.walBytes / count, statements: d.statements / count, commits: d.commits / count };
    }
    return {
      ...(parts.length ? { split: Object.fromEntries(parts.map((p, i) => [p.name, (split1[i]! - split0[i]!) / count])) } : {}),
      ...(db ? { db } : {}),
      acceptedPerSec: count / ((tAccepted - t0) / 1000),
      e2ePerSec: count / ((tAll - t0) / 1000),
      cpuMsPerMsg: (cpu1 - cpu0) / count,
      peakRss,
      peakPss: sampler!.peakPss,
      otherCpuPct: others,
    };
  } finally {
    sampler?.stop();
  }
}

export async function runCell(relay: Relay, c: Cell, repeats: number, dir: string, limits: Limits, log: (s: string) => void, opts: CellOptions = {}): Promise<CellResult> {
  const t0 = performance.now();
  const result: CellResult = { relay: relay.id, cell: c, repeats: [], notes: [], seconds: 0 };
  let sink: Sink | undefined;
  let inst: RelayInstance | undefined;
  try {
    sink = await Sink.start();
    inst = await relay.start(join(dir, 'relay'), sink.port, opts.env ? { env: opts.env } : {});
    if (c.warmup > 0) {
      if (opts.fsyncs && !perfProbe().ok) result.flushError = `perf not usable: ${perfProbe().error}`;
      const counter = opts.fsyncs ? await FsyncCounter.start(inst.roots(), join(dir, 'perf-fsyncs.txt')) : undefined;
      try {
        await load(inst, sink, c, c.warmup, limits, false);
        // the deliveries' last fsyncs: the sink's count is reached just after the node's last commit
        if (counter) await sleep(limits.settleMs);
      } finally {
        const n = await counter?.stopDetailed();
        if (n) {
          result.fsyncsPerMsg = n.total / c.warmup;
          result.flushesByCall = Object.fromEntries(Object.entries(n.byCall).map(([k, v]) => [k, v / c.warmup]));
        } else if (counter) {
          result.flushError = 'perf stat printed no full count';
        }
      }
    }
    const delayed0 = opts.flushCounter?.();
    for (let r = 0; r < repeats; r++) {
      await sleep(300);
      const rep = await load(inst, sink, c, c.count, limits, true);
      result.repeats.push(rep);
      log(`    repeat ${r + 1}/${repeats}: accepted ${rep.acceptedPerSec.toFixed(0)}/s, e2e ${rep.e2ePerSec.toFixed(0)}/s, cpu ${rep.cpuMsPerMsg.toFixed(2)} ms/msg, peak RSS ${(rep.peakRss / 1e6).toFixed(0)} MB, PSS ${(rep.peakPss / 1e6).toFixed(0)} MB; others' CPU ${rep.otherCpuPct.toFixed(0)}%` +
        (rep.split ? `; cpu ms/msg ${Object.entries(rep.split).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}` : '') +
        (rep.db ? `; per msg: WAL ${rep.db.walBytes.toFixed(0)} B, ${rep.db.statements.toFixed(1)} statements, ${rep.db.commits.toFixed(2)} commits` : ''));
    }
    if (delayed0 !== undefined && result.repeats.length) {
      // the deliveries' last flushes come just after the sink has the last message
      await sleep(limits.settleMs);
      result.delayedFlushesPerMsg = (opts.flushCounter!() - delayed0) / (c.count * result.repeats.length);
    }
    if (result.fsyncsPerMsg !== undefined) log(`    disk flushes during the warm-up: ${result.fsyncsPerMsg.toFixed(2)} per message (${Object.entries(result.flushesByCall ?? {}).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') || 'none'})`);
    if (result.flushError) log(`    no flush count: ${result.flushError}`);
    if (result.delayedFlushesPerMsg !== undefined) log(`    flushes delayed by the slow-disk shim during the repeats: ${result.delayedFlushesPerMsg.toFixed(2)} per message`);
    const others = summarize(result.repeats.map((x) => x.otherCpuPct));
    if (others && others.max > OTHER_CPU_NOTE_PCT) result.notes.push(`processes that are not the benchmark's used up to ${others.max.toFixed(0)}% of a core (median ${others.median.toFixed(0)}%) during the repeats: these figures are disturbed`);
    const expected = c.warmup + c.count * repeats;
    await sleep(200);
    if (sink.count !== expected) result.notes.push(`the sink counted ${sink.count} messages, ${expected} were sent`);
  } catch (e) {
    result.error = (e as Error).message;
    log(`    FAILED: ${result.error.split('\n')[0]}`);
  } finally {
    await inst?.stop().catch(() => {});
    await sink?.stop().catch(() => {});
    result.seconds = (performance.now() - t0) / 1000;
  }
  return result;
}
