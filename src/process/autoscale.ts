// When `processes: auto` starts or stops an SMTP worker process, decided
// from event-loop utilisation samples (perf_hooks' eventLoopUtilization(),
// one per process every SAMPLE_MS). Open connections alone never start a
// worker: 1,000 idle sessions keep a loop nearly idle, and the memory a
// worker costs must not be spent then (the idle-connections figure). A worker
// starts when the processes running are busy on average over a window
// (sustained load, not one slow turn) and the machine has a core to spare for
// it (otherwise it only adds its overhead); one stops after it served no session
// for a while and the others have room. Pure: src/process/pool.ts samples
// and acts.

export const SAMPLE_MS = 500;
/** Samples in the window (2 s). */
export const WINDOW = 4;
/** The mean utilisation of the running processes over the window that starts one more. */
export const START_ELU = 0.7;
/** A worker idle this long (no session) may stop, when the rest are below STOP_ELU. */
export const IDLE_STOP_MS = 60_000;
export const STOP_ELU = 0.3;
/**
 * The idle CPU the machine must have had over the window (in cores) for a new worker to be worth its cost: a
 * worker adds capacity only on a core nobody else uses. Measured (bench, 2 cores shared with the load
 * generator): a second process on saturated cores adds about 0.7 ms of CPU per message (hand-over, IPC) and no
 * throughput.
 */
export const START_IDLE_CORES = 0.5;
/** After a start, time for the new process to take load before another is judged necessary. */
export const START_COOLDOWN_MS = 5_000;

export interface ScaleWorker {
  readonly id: number;
  readonly sessions: number;
  /** Since when it has had no session (null: it has some). */
  readonly idleSince: number | null;
  /** Its recent utilisation samples (oldest first). */
  readonly elu: readonly number[];
}

export interface ScaleInput {
  readonly now: number;
  /** The primary's recent samples (oldest first). */
  readonly primaryElu: readonly number[];
  readonly workers: readonly ScaleWorker[];
  /** Workers that may run at most (cores - 1). */
  readonly maxWorkers: number;
  /** When the last worker was started (0: never). */
  readonly lastStart: number;
  /** Workers being started or stopped now: no decision until they are settled. */
  readonly changing: boolean;
  /** The machine's idle CPU over the last samples, in cores (oldest first; os.cpus() times). */
  readonly idleCores: readonly number[];
  /** The idle CPU a start needs (default START_IDLE_CORES; a test knob may lower it). */
  readonly startIdleCores?: number;
}

export type ScaleDecision = { kind: 'start' } | { kind: 'stop'; id: number } | { kind: 'none' };

/** The mean of the last WINDOW samples; null when fewer were taken (a window not yet full decides nothing). */
export function windowMean(samples: readonly number[]): number | null {
  if (samples.length < WINDOW) return null;
  let sum = 0;
  for (const s of samples.slice(-WINDOW)) sum += s;
  return sum / WINDOW;
}

export function decideScale(x: ScaleInput): ScaleDecision {
  if (x.changing) return { kind: 'none' };
  const primary = windowMean(x.primaryElu);
  if (primary === null) return { kind: 'none' };
  const means = [primary];
  for (const w of x.workers) {
    const m = windowMean(w.elu);
    // A worker without a full window yet is new: wait for it.
    if (m === null) return { kind: 'none' };
    means.push(m);
  }
  const mean = means.reduce((a, b) => a + b, 0) / means.length;
  const idle = windowMean(x.idleCores);
  if (mean >= START_ELU && idle !== null && idle >= (x.startIdleCores ?? START_IDLE_CORES) && x.workers.length < x.maxWorkers && x.now - x.lastStart >= START_COOLDOWN_MS) return { kind: 'start' };
  if (mean < STOP_ELU) {
    // The one idle longest goes first; one at a time.
    let pick: ScaleWorker | null = null;
    for (const w of x.workers) {
      if (w.sessions === 0 && w.idleSince !== null && x.now - w.idleSince >= IDLE_STOP_MS && (pick === null || w.idleSince < (pick.idleSince ?? 0))) pick = w;
    }
    if (pick) return { kind: 'stop', id: pick.id };
  }
  return { kind: 'none' };
}

/** How many workers `processes` asks for at start and at most: N - 1 fixed, or none at start and up to cores - 1. */
export function workerBounds(processes: 'auto' | number, cores: number): { initial: number; max: number; auto: boolean } {
  if (processes === 'auto') return { initial: 0, max: Math.max(0, cores - 1), auto: true };
  return { initial: processes - 1, max: processes - 1, auto: false };
}
