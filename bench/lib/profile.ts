// `node bench/run.ts --profile`: where mailwarden's CPU goes per message.
// mailwarden runs with `node --cpu-prof` (through NODE_OPTIONS, so that every
// node process of the relay writes its own profile on a graceful exit) under
// one load cell (default 1 KiB, 20 sessions, reused connections); the samples
// taken while smtp-source ran (V8's clock and process.hrtime are both
// CLOCK_MONOTONIC) are summed per function and per group of code (smtp-server,
// our checks, the spool, delivery, logging...), self and inclusive, and
// divided by the messages sent. The profile sees JavaScript and what V8 runs
// on the main thread; kernel time and libuv's pool threads appear only as
// the total from /proc, next to it.

import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './procs.ts';
import { cpuMs } from './procfs.ts';
import { Sink } from './sink.ts';
import { SMTP_SOURCE, sourceArgs, cellId, type Cell } from './matrix.ts';
import type { Relay } from '../relays/types.ts';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[]; parent?: number }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

/** Groups of code, first match wins; a frame with no URL (a native or a builtin) is counted in its caller's group. */
const GROUPS: [RegExp, string][] = [
  [/node_modules\/smtp-server\//, 'smtp-server (command parsing, replies, DATA stream)'],
  [/node_modules\/nodemailer\/|\/src\/delivery\/|\/src\/queue\/(smtp-courier|courier|attempt)\.ts/, 'delivery (nodemailer, our outbound)'],
  [/\/src\/queue\/(spool[-\w]*|file-queue-store|envelope|queue-id|dir-sync)\.ts/, 'spool and queue store'],
  [/\/src\/queue\/(queue-census)\.ts|\/src\/metrics\/|node_modules\/prom-client\//, 'statistics and metrics'],
  [/\/src\/queue\//, 'queue (manager, scheduler)'],
  [/\/src\/log\/|node_modules\/(pino|sonic-boom|thread-stream|fast-redact|quick-format|on-exit-leak-free|safe-stable-stringify|atomic-sleep)/, 'logging (JSON lines)'],
  [/\/src\/tracking\//, 'tracking'],
  [/\/src\/(checks|policy|antispam|content|limits|address|directory|dkim|scan)\//, 'our checks and policy'],
  [/\/src\/smtp\//, 'our SMTP handlers (src/smtp)'],
  [/\/src\/store\/|node:sqlite/, 'store (SQLite)'],
  [/^node:(tls|_tls)|node:internal\/tls/, 'TLS'],
  [/^node:(net|stream|dgram)|node:internal\/(stream_base_commons|streams\/|net)/, 'Node sockets and streams'],
  [/^node:(fs|internal\/fs\/)/, 'Node fs calls'],
  [/^node:(timers|internal\/timers)/, 'timers'],
  [/^node:/, 'Node core (events, microtasks, buffers)'],
];

function groupOf(raw: string): string | undefined {
  if (!raw) return undefined;
  // The compiled build (dist/*.js) is grouped as the source it came from.
  const url = raw.replace(/\/dist\/(.*)\.js$/, '/src/$1.ts');
  for (const [re, name] of GROUPS) if (re.test(url)) return name;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `mailwarden src/${src[1]}`;
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  return 'other';
}

export interface ProfileRow { name: string; selfMs: number; totalMs: number; /** the nearest caller that is not Node's own code, for the self time */ via?: string }
export interface ProfileSummary {
  messages: number;
  /** sampled ms per message, idle left out */
  busyMs: number;
  groups: ProfileRow[];
  functions: ProfileRow[];
  /** samples in the window / in the whole profile */
  samples: { window: number; all: number; profiles: number };
}

/** Sums the samples of `profiles` taken between `fromUs` and `toUs` (CLOCK_MONOTONIC µs), per message. */
export function summarize(profiles: CpuProfile[], fromUs: number, toUs: number, messages: number): ProfileSummary {
  const groupSelf = new Map<string, number>();
  const groupTotal = new Map<string, number>();
  const fnSelf = new Map<string, number>();
  const fnTotal = new Map<string, number>();
  const fnVia = new Map<string, Map<string, number>>();
  let busy = 0;
  let inWindow = 0;
  let all = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (const n of p.nodes) for (const c of n.children ?? []) { const ch = byId.get(c); if (ch) ch.parent = n.id; }
    // per node: its stack's groups and function keys, computed once
    type Info = { group: string; groups: Set<string>; fns: Set<string>; fn: string; special?: string; via?: string };
    const stackCache = new Map<number, Info>();
    const info = (id: number): Info => {
      const hit = stackCache.get(id);
      if (hit) return hit;
      const n = byId.get(id)!;
      const f = n.callFrame;
      const parent = n.parent !== undefined ? info(n.parent) : undefined;
      const special = /^\((garbage collector|program|idle|root)\)$/.test(f.functionName) ? f.functionName : undefined;
      const group = special === '(garbage collector)' ? 'garbage collection' : special === '(program)' ? 'V8/native, not attributed (program)' : groupOf(f.url) ?? parent?.group ?? 'other';
      const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(src|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '(native)';
      const fn = special ?? `${f.functionName || '(anonymous)'} ${where}`;
      const groups = new Set(parent?.groups ?? []);
      const fns = new Set(parent?.fns ?? []);
      if (special !== '(root)') { groups.add(group); fns.add(fn); }
      // the innermost frame of our code or of a package: what made Node do the work
      const ours = f.url && !f.url.startsWith('node:') ? fn : parent?.via;
      const r: Info = { group, groups, fns, fn, ...(special ? { special } : {}), ...(ours ? { via: ours } : {}) };
      stackCache.set(id, r);
      return r;
    };
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i] ?? 0;
      all++;
      // a sample's time is the gap to the next one
      const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
      if (t < fromUs || t > toUs) continue;
      inWindow++;
      const s = info(p.samples[i]!);
      if (s.special === '(idle)' || s.special === '(root)') continue;
      busy += dt;
      add(groupSelf, s.group, dt);
      add(fnSelf, s.fn, dt);
      if (s.via && s.via !== s.fn) { let m = fnVia.get(s.fn); if (!m) fnVia.set(s.fn, (m = new Map())); add(m, s.via, dt); }
      for (const g of s.groups) add(groupTotal, g, dt);
      for (const f of s.fns) add(fnTotal, f, dt);
    }
  }
  const rows = (self: Map<string, number>, total: Map<string, number>): ProfileRow[] =>
    [...new Set([...self.keys(), ...total.keys()])]
      .map((name) => {
        const via = [...(fnVia.get(name) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1])[0];
        const self0 = self.get(name) ?? 0;
        return { name, selfMs: self0 / messages, totalMs: (total.get(name) ?? 0) / messages, ...(via && self0 > 0 ? { via: `${via[0]} (${Math.round((100 * via[1]) / self0)} %)` } : {}) };
      })
      .sort((a, b) => b.selfMs - a.selfMs || b.totalMs - a.totalMs);
  return { messages, busyMs: busy / messages, groups: rows(groupSelf, groupTotal), functions: rows(fnSelf, fnTotal), samples: { window: inWindow, all, profiles: profiles.length } };
}

export function readProfiles(dir: string): CpuProfile[] {
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
}

const ms = (v: number) => (v >= 0.1 ? v.toFixed(3) : v.toFixed(4));

export function renderSummary(s: ProfileSummary, head: string[], top = 20): string {
  const out = [...head, ''];
  out.push(`Sampled on the main thread(s), idle left out: **${ms(s.busyMs)} ms per message** (${s.samples.window} of ${s.samples.all} samples of ${s.samples.profiles} profile(s) fell in the load window).`, '');
  out.push('### By group of code (ms per message)', '', '| group | self | inclusive |', '|---|---|---|');
  for (const g of s.groups) out.push(`| ${g.name} | ${ms(g.selfMs)} | ${ms(g.totalMs)} |`);
  out.push('', 'Self: samples whose innermost frame is in the group (a native or builtin frame counts in its caller\'s group). Inclusive: samples with the group anywhere on the stack (groups nest, so these do not add up).', '');
  out.push(`### Top ${top} functions by self time (ms per message)`, '', '| # | function | self | inclusive | mostly called from (nearest frame outside Node, share of the self time) |', '|---|---|---|---|---|');
  s.functions.slice(0, top).forEach((f, i) => out.push(`| ${i + 1} | \`${f.name}\` | ${ms(f.selfMs)} | ${ms(f.totalMs)} | ${f.via ? '`' + f.via.replace(/ \((\d+ %)\)$/, '` ($1)') : ''} |`));
  const byTotal = [...s.functions].filter((f) => !f.name.startsWith('(')).sort((a, b) => b.totalMs - a.totalMs).slice(0, top);
  out.push('', `### Top ${top} functions by inclusive time (ms per message)`, '', '| # | function | self | inclusive |', '|---|---|---|---|');
  byTotal.forEach((f, i) => out.push(`| ${i + 1} | \`${f.name}\` | ${ms(f.selfMs)} | ${ms(f.totalMs)} |`));
  return out.join('\n') + '\n';
}

export interface ProfileRun { summaryFile: string; profileDir: string; markdown: string; error?: string }

/**
 * One profiled run: a fresh sink and relay (NODE_OPTIONS carries --cpu-prof),
 * a warm-up, `cell.count` messages in the window, a graceful stop (the
 * profile is written at exit), then the summary.
 */
export async function profileRun(relay: Relay, cell: Cell, dir: string, intervalUs: number, log: (s: string) => void): Promise<ProfileRun> {
  const profileDir = join(dir, 'cpuprofile');
  mkdirSync(profileDir, { recursive: true });
  const env = { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${intervalUs}`].filter(Boolean).join(' ') };
  const sink = await Sink.start();
  let cpu = NaN;
  let window: [number, number] = [0, 0];
  let wall = 0;
  try {
    const inst = await relay.start(join(dir, 'relay'), sink.port, { env });
    try {
      const go = async (n: number) => {
        const base = sink.count;
        const src = await run('smtp-source', SMTP_SOURCE, sourceArgs(cell, n, inst.port), { timeoutMs: 240_000 });
        if (src.code !== 0) throw new Error(`smtp-source exited ${src.code}: ${src.stderr.trim().split('\n').slice(-2).join(' | ')}`);
        if (!(await sink.waitFor(base + n, 180_000))) throw new Error(`the sink had ${sink.count - base} of ${n} messages`);
      };
      log(`profile: warm-up, ${cell.warmup} messages`);
      await go(cell.warmup);
      await sleep(300);
      log(`profile: ${cell.count} messages, ${cellId(cell)}`);
      const cpu0 = cpuMs(inst.roots());
      const t0 = Number(process.hrtime.bigint() / 1000n);
      await go(cell.count);
      const t1 = Number(process.hrtime.bigint() / 1000n);
      cpu = (cpuMs(inst.roots()) - cpu0) / cell.count;
      window = [t0, t1];
      wall = (t1 - t0) / 1e6;
    } finally {
      await inst.stop();
    }
  } finally {
    await sink.stop().catch(() => {});
  }
  const profiles = readProfiles(profileDir);
  if (profiles.length === 0) return { summaryFile: '', profileDir, markdown: '', error: `no .cpuprofile in ${profileDir}: the relay did not exit gracefully?` };
  const s = summarize(profiles, window[0], window[1], cell.count);
  const head = [
    `## Profile: mailwarden, ${cellId(cell)} (${cell.count} messages after ${cell.warmup} of warm-up), node --cpu-prof every ${intervalUs} µs`,
    '',
    `${relay.version()}. While profiled: ${(cell.count / wall).toFixed(0)} msgs/s end to end, **${cpu.toFixed(2)} ms of CPU per message** for the relay's process tree from /proc (user + system, every thread: the main thread, libuv's pool, V8's helpers, and the kernel's work for them); the sampler itself adds some of that.`,
  ];
  const markdown = renderSummary(s, head);
  const summaryFile = join(dir, 'profile-summary.md');
  writeFileSync(summaryFile, markdown);
  writeFileSync(join(dir, 'profile-summary.json'), JSON.stringify({ cell, windowUs: window, cpuMsPerMsg: cpu, msgsPerSec: cell.count / wall, ...s }, null, 1) + '\n');
  log(`profile: ${relative(process.cwd(), profileDir)}/*.cpuprofile (open in Chrome DevTools), summary ${relative(process.cwd(), summaryFile)}`);
  return { summaryFile, profileDir, markdown };
}
