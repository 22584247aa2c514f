// Every process the benchmark starts goes through here. Each runs in its own
// process group (detached), is written down in WORK/procs.json with its start
// time, and is stopped when the run ends: on success, on an exception, on
// SIGINT/SIGTERM/SIGHUP, and (with SIGKILL, synchronously) in the 'exit'
// handler. A run that was itself SIGKILLed leaves procs.json behind; the next
// run reads it and stops what is still alive and really is the same process
// (same pid and same start time), nothing else.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Tracked {
  name: string;
  pid: number;
  /** field 22 of /proc/PID/stat: tells a live process from a reused pid */
  startTime: string;
  /** signal the whole group (-pid) rather than the pid alone */
  group: boolean;
}

let registryFile = '';
const tracked = new Map<number, Tracked>();
const children = new Map<number, Spawned>();
let handlersInstalled = false;
let stopping = false;

export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall; fields after ')' start at field 3
  } catch {
    return undefined;
  }
}

/** The pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.charAt(s.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return false;
  }
}

function save(): void {
  if (!registryFile) return;
  writeFileSync(registryFile, JSON.stringify([...tracked.values()], null, 1));
}

function signal(t: Tracked, sig: NodeJS.Signals): void {
  if (procStartTime(t.pid) !== t.startTime) return; // gone, or the pid is someone else's now
  try {
    process.kill(t.group ? -t.pid : t.pid, sig);
  } catch {
    try { process.kill(t.pid, sig); } catch { /* already gone */ }
  }
}

/** Reads a registry left by an earlier run and stops what is still alive of it. */
export async function initRegistry(file: string): Promise<void> {
  registryFile = file;
  mkdirSync(dirname(file), { recursive: true });
  if (existsSync(file)) {
    let stale: Tracked[] = [];
    try { stale = JSON.parse(readFileSync(file, 'utf8')) as Tracked[]; } catch { stale = []; }
    const live = stale.filter((t) => procStartTime(t.pid) === t.startTime);
    for (const t of live) {
      process.stderr.write(`bench: stopping ${t.name} (pid ${t.pid}) left over from an earlier run\n`);
      signal(t, 'SIGKILL');
    }
    if (live.length) await sleep(300);
  }
  tracked.clear();
  save();
  installHandlers();
}

/** Adds a process we did not spawn directly (a daemon's master) to the registry. */
export function track(name: string, pid: number, group: boolean): void {
  const startTime = procStartTime(pid);
  if (startTime === undefined) return;
  tracked.set(pid, { name, pid, startTime, group });
  save();
}

function untrack(pid: number): void {
  if (tracked.delete(pid)) save();
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a process in its own process group. `logFile`: stdout and stderr go
 * there (opened by the child directly, so a chatty relay never waits on us).
 */
export function start(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string; stdio?: SpawnOptions['stdio'] } = {}): Spawned {
  if (stopping) throw new Error('bench is stopping');
  let fd: number | undefined;
  let stdio: SpawnOptions['stdio'] = opts.stdio ?? ['ignore', 'ignore', 'ignore'];
  if (opts.logFile) {
    fd = openSync(opts.logFile, 'a');
    stdio = ['ignore', fd, fd];
  }
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio, detached: true });
  if (fd !== undefined) closeSync(fd);
  if (child.pid === undefined) {
    throw new Error(`could not start ${name}: ${cmd}`);
  }
  const pid = child.pid;
  track(name, pid, true);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', () => resolve({ code: -1, signal: null }));
    child.once('exit', (code, sig) => {
      children.delete(pid);
      untrack(pid);
      resolve({ code, signal: sig });
    });
  });
  const spawned = { child, pid, exited };
  children.set(pid, spawned);
  return spawned;
}

/** SIGTERM to the group, then SIGKILL after `graceMs` if the leader is still there. */
export async function stopGroup(pid: number, graceMs = 5000): Promise<void> {
  const t = tracked.get(pid);
  if (!t) return;
  signal(t, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until && alive(pid)) await sleep(50);
  signal(t, 'SIGKILL'); // the rest of the group too, if anything lingers
  untrack(pid);
  // reap our own child, so that none is left a zombie when we exit
  const c = children.get(pid);
  if (c) await Promise.race([c.exited, sleep(2000)]);
}

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean; ms: number }

/** Runs a command to completion, bounded in time (the group is killed at the limit). */
export async function run(name: string, cmd: string, args: string[], opts: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const t0 = performance.now();
  const s = start(name, cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  s.child.stdout?.on('data', (d: Buffer) => { if (stdout.length < 1e6) stdout += d.toString(); });
  s.child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 1e6) stderr += d.toString(); });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    const t = tracked.get(s.pid);
    if (t) signal(t, 'SIGKILL');
  }, opts.timeoutMs);
  const r = await s.exited;
  const ms = performance.now() - t0;
  clearTimeout(timer);
  // let the pipes drain
  await new Promise<void>((resolve) => { if (s.child.stdout && !s.child.stdout.readableEnded) s.child.stdout.once('close', () => resolve()); else resolve(); setTimeout(resolve, 500); });
  return { ...r, stdout, stderr, timedOut, ms };
}

/** Stops everything still tracked: SIGTERM, a short wait, then SIGKILL. */
export async function stopAll(): Promise<void> {
  const all = [...tracked.values()];
  for (const t of all) signal(t, 'SIGTERM');
  const until = Date.now() + 3000;
  while (Date.now() < until && all.some((t) => alive(t.pid))) await sleep(50);
  for (const t of all) signal(t, 'SIGKILL');
  tracked.clear();
  save();
  await Promise.race([Promise.all([...children.values()].map((c) => c.exited)), sleep(2000)]);
}

function killAllSync(): void {
  for (const t of tracked.values()) signal(t, 'SIGKILL');
  tracked.clear();
  try {
    save();
  } catch {
    // at exit: a registry whose directory is gone (a test's temporary one) has nothing left to record
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\nbench: ${sig}: stopping every process it started\n`);
    stopAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', killAllSync);
}

export function isStopping(): boolean {
  return stopping;
}
