// Waiting for a quiet machine. This machine is shared (other work, tests and
// measurements may run on it); before each measurement the harness looks at
// how much CPU processes that are not ours use and, when that is more than a
// threshold, waits for it to calm down, bounded per call and per run.

import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuReading, othersPct } from './procfs.ts';

export class QuietGate {
  waitedMs = 0;
  private readonly thresholdPct: number;
  private readonly maxPerCallMs: number;
  private readonly maxTotalMs: number;
  private readonly log: (s: string) => void;

  constructor(opts: { thresholdPct: number; maxPerCallMs: number; maxTotalMs: number; log: (s: string) => void }) {
    this.thresholdPct = opts.thresholdPct;
    this.maxPerCallMs = opts.maxPerCallMs;
    this.maxTotalMs = opts.maxTotalMs;
    this.log = opts.log;
  }

  /** CPU of other processes over a short window, % of one core. */
  static async probe(ms = 700): Promise<number> {
    const a = cpuReading();
    await sleep(ms);
    return othersPct(a, cpuReading());
  }

  /** Returns the last reading (% of one core used by others). */
  async wait(): Promise<number> {
    const t0 = Date.now();
    let pct = await QuietGate.probe();
    let said = false;
    while (pct > this.thresholdPct) {
      const left = Math.min(this.maxPerCallMs - (Date.now() - t0), this.maxTotalMs - this.waitedMs - (Date.now() - t0));
      if (left <= 0) {
        this.log(`    the machine is still busy (others use ${pct.toFixed(0)}% of a core); measuring anyway`);
        break;
      }
      if (!said) {
        this.log(`    others use ${pct.toFixed(0)}% of a core; waiting up to ${Math.round(left / 1000)} s for the machine to calm down`);
        said = true;
      }
      await sleep(Math.min(3000, left));
      pct = await QuietGate.probe();
    }
    this.waitedMs += Date.now() - t0;
    return pct;
  }
}

/**
 * Writes out the file system's dirty data (`sync -f DIR`, bounded) before a
 * relay is measured: whatever the previous relay left for the kernel to write
 * back (its queue files, its logs) would otherwise be written on the next
 * relay's time and slow its fsyncs. Returns the milliseconds it took.
 */
export async function settleDisk(dir: string, timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  await new Promise<void>((done) => execFile('sync', ['-f', dir], { timeout: timeoutMs }, () => done()));
  return Date.now() - t0;
}
