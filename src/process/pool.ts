// The primary's SMTP worker processes (`processes`, docs/processes.md):
// forks them (the primary's own Node and flags), hands each connection the
// dispatcher gives a worker over with its socket, answers the workers'
// requests (the throttle, rate limits, sender lists, greylist, a proxied
// client's slot: the handlers the daemon passes), writes their log events
// through the primary's logger, and hands their committed messages to the
// queue. The slots of a handed connection are released when its worker says
// it closed, or when the worker dies. Under `auto` it samples event-loop
// utilisation and starts or stops workers (src/process/autoscale.ts).

import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { ListenerDef } from '../config/document.ts';
import type { Logger } from '../log/logger.ts';
import type { Envelope } from '../queue/envelope.ts';
import type { HandedSlots } from '../smtp/connection-gate.ts';
import type { RunningListener } from '../smtp/listeners.ts';
import type { TlsMaterial } from '../smtp/tls.ts';
import { decideScale, SAMPLE_MS, WINDOW, workerBounds } from './autoscale.ts';
import { chooseProcess, type ProcessLoad } from './dispatch.ts';
import { siblingUrl } from '../core/sibling.ts';
import { cpus } from 'node:os';
import type { FromWorker, ToWorker } from './ipc.ts';

const WORKER_MAIN = fileURLToPath(siblingUrl(import.meta.url, 'worker-main'));
/** How long a worker may take to start before it is given up (and killed). */
const READY_TIMEOUT_MS = 20_000;
/** Beyond the grace time, how long a stopping worker may take to exit before SIGKILL. */
const EXIT_MARGIN_MS = 10_000;
/** A fixed-count worker that died is replaced after this pause (a crash loop costs little). */
const RESPAWN_MS = 1_000;

export type Handler = (...args: never[]) => unknown;

export interface PoolDeps {
  logger: Logger;
  processes: 'auto' | number;
  cores: number;
  dataDir: string;
  listeners: ListenerDef[];
  tls: TlsMaterial;
  /** The primary's own sessions now. */
  ownSessions(): number;
  /** A message a worker committed. */
  onQueued(envelope: Envelope): void;
  /**
   * A worker died unexpectedly and its channel is closed: a message it committed (and answered 250) just before it
   * died may never have been announced; the primary looks for such messages in the store.
   */
  onLost?(): void;
  /** Requests the workers make (op → answer). */
  handlers: Record<string, Handler>;
  /** Notes the workers send (op → action). */
  notes: Record<string, Handler>;
}

interface Worker {
  n: number;
  child: ChildProcess;
  ready: boolean;
  stopping: boolean;
  /** Connections handed over and not yet closed, by id. */
  sessions: Map<number, HandedSlots>;
  elu: number[];
  idleSince: number | null;
  gone: Promise<void>;
}

export class ProcessPool {
  private readonly deps: PoolDeps;
  private readonly workers = new Map<number, Worker>();
  private readonly bounds: { initial: number; max: number; auto: boolean };
  private readonly primaryElu: number[] = [];
  private lastElu = performance.eventLoopUtilization();
  private sampler: NodeJS.Timeout | null = null;
  private readonly idleCores: number[] = [];
  private lastCpu: { idle: number; total: number } | null = null;
  private seq = 0;
  private nextN = 1;
  private lastStart = 0;
  private starting = 0;
  private stopping = false;

  constructor(deps: PoolDeps) {
    this.deps = deps;
    this.bounds = workerBounds(deps.processes, deps.cores);
  }

  /** The workers asked for at start (N - 1; none under auto), each ready before this resolves. */
  async start(): Promise<void> {
    this.deps.logger.log('process.started', { role: 'primary', pid: process.pid, processes: this.deps.processes, max_workers: this.bounds.max });
    await Promise.all(Array.from({ length: this.bounds.initial }, () => this.spawn()));
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    this.sampler.unref();
  }

  /** Pids of the workers running (tests, logs). */
  pids(): number[] {
    return [...this.workers.values()].map((w) => w.child.pid ?? 0);
  }

  /** 10 (src/smtp/smtp-server-patches.ts): true when a worker took the socket. */
  handOff(r: RunningListener, socket: Socket): boolean {
    if (this.stopping || this.workers.size === 0) return false;
    const loads: ProcessLoad[] = [{ id: 0, sessions: this.deps.ownSessions(), elu: this.primaryElu.at(-1) ?? 0, ready: true }];
    for (const w of this.workers.values()) loads.push({ id: w.n, sessions: w.sessions.size, elu: w.elu.at(-1) ?? 0, ready: w.ready && !w.stopping && w.child.connected });
    const w = this.workers.get(chooseProcess(loads));
    if (!w) return false;
    const slots = r.gate.handOver(socket);
    if (!slots) return false;
    const id = ++this.seq;
    w.sessions.set(id, slots);
    w.idleSince = null;
    const lost = () => {
      if (w.sessions.delete(id)) slots.release();
      socket.destroy();
    };
    try {
      w.child.send({ t: 'conn', id, listener: r.def.name } satisfies ToWorker, socket, { keepOpen: false }, (err) => {
        if (err) lost();
      });
    } catch {
      lost();
    }
    return true;
  }

  /** A revision was applied: the workers read it now. */
  revision(): void {
    for (const w of this.workers.values()) this.send(w, { t: 'revision' });
  }

  /** Tells every worker to stop (grace for its DATA commits, then 421) and waits for each to exit. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.sampler) clearInterval(this.sampler);
    await Promise.all([...this.workers.values()].map((w) => this.retire(w, graceMs)));
  }

  private send(w: Worker, m: ToWorker): void {
    try {
      if (w.child.connected) w.child.send(m);
    } catch {
      // gone: its exit is handled there
    }
  }

  private retire(w: Worker, graceMs: number): Promise<void> {
    if (!w.stopping) {
      w.stopping = true;
      this.send(w, { t: 'stop', graceMs });
      const kill = setTimeout(() => w.child.kill('SIGKILL'), graceMs + EXIT_MARGIN_MS);
      kill.unref();
      void w.gone.then(() => clearTimeout(kill));
    }
    return w.gone;
  }

  private spawn(): Promise<void> {
    const n = this.nextN++;
    this.starting++;
    this.lastStart = Date.now();
    const child = fork(WORKER_MAIN, [], {
      execPath: process.execPath,
      execArgv: process.execArgv,
      serialization: 'advanced',
      // stdout is the primary's alone (one writer of the log); a fatal error still reaches stderr.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let exited!: () => void;
    let disconnected!: () => void;
    const exit = new Promise<void>((r) => (exited = r));
    const disc = new Promise<void>((r) => (disconnected = r));
    const w: Worker = { n, child, ready: false, stopping: false, sessions: new Map(), elu: [], idleSince: Date.now(), gone: Promise.all([exit, disc]).then(() => {}) };
    this.workers.set(n, w);
    child.on('disconnect', () => disconnected());
    let onReady: () => void = () => {};
    const ready = new Promise<void>((r) => (onReady = r));
    child.on('message', (m: FromWorker) => {
      if (m.t === 'ready') {
        w.ready = true;
        this.starting--;
        this.deps.logger.log('process.started', { role: 'worker', n, pid: child.pid });
        onReady();
        return;
      }
      this.onMessage(w, m);
    });
    child.on('error', (err) => this.deps.logger.log('process.error', { role: 'worker', n, pid: child.pid, error: err.message }));
    child.once('exit', (code, signal) => {
      exited();
      if (!w.ready) {
        this.starting--;
        onReady();
      }
      // A worker that dies cannot say which of its sessions closed: they all did (its sockets went with it).
      const open = w.sessions.size;
      for (const slots of w.sessions.values()) slots.release();
      w.sessions.clear();
      this.workers.delete(n);
      this.deps.logger.log('process.exited', { role: 'worker', n, pid: child.pid, code, signal, sessions: open, ...(w.stopping ? {} : { unexpected: true }) });
      if (!w.stopping) child.once('close', () => this.deps.onLost?.());
      if (!w.stopping && !this.stopping && !this.bounds.auto) {
        // A fixed count is kept: another worker replaces this one.
        const t = setTimeout(() => {
          if (!this.stopping) void this.spawn();
        }, RESPAWN_MS);
        t.unref();
      }
    });
    const timer = setTimeout(() => {
      if (w.ready) return;
      this.deps.logger.log('process.error', { role: 'worker', n, pid: child.pid, error: `not ready within ${READY_TIMEOUT_MS} ms` });
      child.kill('SIGKILL');
    }, READY_TIMEOUT_MS);
    timer.unref();
    this.send(w, { t: 'init', n, dataDir: this.deps.dataDir, listeners: this.deps.listeners, tls: this.deps.tls });
    return ready.then(() => clearTimeout(timer));
  }

  private onMessage(w: Worker, m: FromWorker): void {
    switch (m.t) {
      case 'batch':
        for (const item of m.items) this.onMessage(w, item);
        return;
      case 'log':
        this.deps.logger.log(m.event, m.fields);
        return;
      case 'closed': {
        const slots = w.sessions.get(m.id);
        if (slots) {
          w.sessions.delete(m.id);
          slots.release();
        }
        if (w.sessions.size === 0) w.idleSince = Date.now();
        return;
      }
      case 'load':
        w.elu.push(m.elu);
        if (w.elu.length > WINDOW * 2) w.elu.shift();
        return;
      case 'queued':
        try {
          this.deps.onQueued(m.envelope);
        } catch (err) {
          this.deps.logger.log('queued.notify_error', { id: m.envelope.id, error: err instanceof Error ? err.message : String(err) });
        }
        return;
      case 'req':
        void this.answer(w, m);
        return;
      case 'note': {
        const h = this.deps.notes[m.op];
        try {
          (h as ((...a: unknown[]) => unknown) | undefined)?.(...m.args);
        } catch {
          // a count lost is not a reason to stop serving
        }
        return;
      }
      default:
        return;
    }
  }

  private async answer(w: Worker, m: Extract<FromWorker, { t: 'req' }>): Promise<void> {
    let reply: ToWorker;
    try {
      let value: unknown;
      if (m.op === 'gate.claim') {
        const [id, address] = m.args as [number, string];
        const slots = w.sessions.get(id);
        // A connection not (or no longer) counted here is refused: never served uncounted.
        value = slots ? slots.claim(address) : 'max_connections';
      } else {
        const h = this.deps.handlers[m.op] as ((...a: unknown[]) => unknown) | undefined;
        if (!h) throw new Error(`unknown request ${m.op}`);
        value = await h(...m.args);
      }
      reply = { t: 'res', rid: m.rid, ok: true, value };
    } catch (err) {
      reply = { t: 'res', rid: m.rid, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    this.send(w, reply);
  }

  /** The machine's idle CPU since the last sample, in cores. */
  private idleSample(): number {
    let idle = 0;
    let total = 0;
    for (const c of cpus()) {
      idle += c.times.idle;
      total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
    }
    const last = this.lastCpu;
    this.lastCpu = { idle, total };
    if (!last || total <= last.total) return 0;
    return ((idle - last.idle) / (total - last.total)) * this.deps.cores;
  }

  private sample(): void {
    this.idleCores.push(this.idleSample());
    if (this.idleCores.length > WINDOW * 2) this.idleCores.shift();
    const now = performance.eventLoopUtilization();
    this.primaryElu.push(performance.eventLoopUtilization(now, this.lastElu).utilization);
    this.lastElu = now;
    if (this.primaryElu.length > WINDOW * 2) this.primaryElu.shift();
    if (!this.bounds.auto || this.stopping) return;
    const workers = [...this.workers.values()].filter((w) => w.ready && !w.stopping);
    const d = decideScale({
      now: Date.now(),
      primaryElu: this.primaryElu,
      workers: workers.map((w) => ({ id: w.n, sessions: w.sessions.size, idleSince: w.idleSince, elu: w.elu })),
      maxWorkers: this.bounds.max,
      lastStart: this.lastStart,
      idleCores: this.idleCores,
      // A test knob, never for production: the tests' own clients share the machine's cores with the daemon.
      ...(process.env.MAILWARDEN_TEST_AUTO_IDLE_CORES ? { startIdleCores: Number(process.env.MAILWARDEN_TEST_AUTO_IDLE_CORES) } : {}),
      changing: this.starting > 0 || workers.length !== this.workers.size,
    });
    if (d.kind === 'start') {
      this.deps.logger.log('process.scale', { action: 'start', reason: 'load', elu: round(this.primaryElu.at(-1) ?? 0), workers: this.workers.size });
      void this.spawn();
    } else if (d.kind === 'stop') {
      const w = this.workers.get(d.id);
      if (w) {
        this.deps.logger.log('process.scale', { action: 'stop', reason: 'idle', n: w.n, pid: w.child.pid });
        void this.retire(w, 0);
      }
    }
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
