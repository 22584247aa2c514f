// mailwarden nodes of a cluster for the benchmark: `bin/mailwarden start
// --store URL --node NAME --listen mx=127.0.0.1:0 --data DIR [--config FILE]`,
// JSON log lines written by the node straight to DIR/mailwarden.log (the
// harness reads nothing while load runs). The node binds port 0 and the
// harness reads the bound port from its `started` line (docs/cli.md), read
// from the log file by a LogTail: the file is polled only while someone
// waits on a line, so a waiting harness costs nothing between measurements.

import { mkdirSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { start, stopGroup, alive, type Spawned } from './procs.ts';
import { logTail } from '../relays/types.ts';
import { REPO } from '../relays/mailwarden.ts';

const BIN = join(REPO, 'bin', 'mailwarden');

export interface LogLine { ts: string; event: string; [k: string]: unknown }

/** The JSON lines of a log file, read incrementally. */
export class LogTail {
  readonly lines: LogLine[] = [];
  private offset = 0;
  private partial = '';
  readonly file: string;
  constructor(file: string) {
    this.file = file;
  }

  /** Reads what was appended since the last call. */
  poll(): void {
    let fd: number;
    try { fd = openSync(this.file, 'r'); } catch { return; }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const text = this.partial + buf.subarray(0, n).toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const p of parts) {
        try { this.lines.push(JSON.parse(p) as LogLine); } catch { /* not a log line */ }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Waits (bounded, polling every 20 ms) for a line matching `pred`; `from`: index to look from. */
  async waitFor(pred: (l: LogLine) => boolean, timeoutMs: number, stillRunning: () => boolean = () => true, from = 0): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      this.poll();
      for (let i = from; i < this.lines.length; i++) if (pred(this.lines[i]!)) return this.lines[i]!;
      if (!stillRunning()) throw new Error(`exited before the log line came\n${await logTail(this.file)}`);
      if (Date.now() > until) throw new Error(`no such log line within ${timeoutMs} ms in ${this.file}\n${await logTail(this.file)}`);
      await sleep(20);
    }
  }
}

export interface ClusterNode {
  name: string;
  pid: number;
  port: number;
  logFile: string;
  log: LogTail;
  proc: Spawned;
  stop(): Promise<void>;
  /** SIGKILL, the node alone (no clean stop) */
  kill(): void;
}

export async function startClusterNode(dir: string, url: string, name: string, opts: { config?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ClusterNode> {
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'mailwarden.log');
  const args = ['start', '--store', url, '--node', name, '--listen', 'mx=127.0.0.1:0', '--data', join(dir, 'data')];
  if (opts.config) args.push('--config', opts.config);
  const env = opts.env ? { ...process.env, ...opts.env } : process.env;
  // bin/mailwarden execs node: the pid is the node's
  const proc = start(`mailwarden ${name}`, BIN, args, { cwd: REPO, logFile, env });
  const log = new LogTail(logFile);
  let started: LogLine;
  try {
    started = await log.waitFor((l) => l.event === 'started', opts.timeoutMs ?? 60_000, () => alive(proc.pid));
  } catch (e) {
    await stopGroup(proc.pid, 1000);
    throw new Error(`node ${name}: ${(e as Error).message}`);
  }
  const mx = (started.listeners as { name: string; port: number }[] | undefined)?.find((l) => l.name === 'mx');
  if (!mx?.port) {
    await stopGroup(proc.pid, 1000);
    throw new Error(`node ${name}: no mx port in its started line: ${JSON.stringify(started)}`);
  }
  return {
    name, pid: proc.pid, port: mx.port, logFile, log, proc,
    stop: () => stopGroup(proc.pid, 15_000),
    kill: () => { try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ } },
  };
}
