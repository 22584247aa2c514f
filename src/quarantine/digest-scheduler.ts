// Sends the digest at each slot of quarantine.digest.schedule (issue 21). Each
// node runs one; at a slot, each tries to record it in the store
// (claimDigestSlot: a row inserted ON CONFLICT DO NOTHING) and only the one
// that did sends, so that a cluster sends each slot once. A slot that passed
// while no node ran is not made up for: the next one lists everything still
// in quarantine anyway. The timer looks at least once a minute, so that a
// new schedule (a new revision) is followed without a restart. Never throws:
// a failure is logged and the next slot comes.

import type { Logger } from '../log/logger.ts';
import type { QuarantineSettings } from '../config/quarantine-settings.ts';
import type { QuarantineStateStore } from './quarantine-state-store.ts';
import type { DigestRun, DigestSender } from './digest-sender.ts';
import { nextSlot, parseSchedule, slotKey } from './digest-schedule.ts';

/** Recorded slots are kept this long (the record only has to outlive the slot's race). */
const SLOT_KEEP_MS = 30 * 86_400_000;
const TICK_MAX_MS = 60_000;

export interface DigestSchedulerDeps {
  state: () => QuarantineStateStore;
  sender: Pick<DigestSender, 'run'>;
  settings: () => QuarantineSettings;
  node: string;
  logger: Logger;
  now?: () => number;
}

export class DigestScheduler {
  private readonly d: DigestSchedulerDeps;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private planned: { schedule: string; at: number } | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(deps: DigestSchedulerDeps) {
    this.d = deps;
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Looks at the clock: plans the next slot, or sends the one that came. Exposed for tests. */
  async tick(): Promise<void> {
    const q = this.d.settings().digest;
    const now = this.now();
    if (!q.enabled) {
      this.planned = null;
      return;
    }
    const parsed = parseSchedule(q.schedule);
    if (!parsed.ok) return; // validated settings never get here
    if (!this.planned || this.planned.schedule !== q.schedule) {
      this.planned = { schedule: q.schedule, at: nextSlot(parsed.schedule, now) };
      return;
    }
    if (now < this.planned.at) return;
    const slot = this.planned.at;
    this.planned = { schedule: q.schedule, at: nextSlot(parsed.schedule, now) };
    await this.fire(q.schedule, slot);
  }

  /** Sends slot `at` of `schedule` unless another node (or this one) already took it; the run, or null when taken. */
  async fire(schedule: string, at: number): Promise<DigestRun | null> {
    const key = slotKey(schedule, at);
    try {
      const state = this.d.state();
      if (!(await state.claimDigestSlot(key, this.d.node, at))) {
        this.d.logger.log('quarantine.digest.slot_taken', { slot: key, node: this.d.node });
        return null;
      }
      const run = await this.d.sender.run();
      this.d.logger.log('quarantine.digest.slot', { slot: key, node: this.d.node, digests: run.sent.length, skipped: run.skipped });
      void state.pruneDigestSlots(at - SLOT_KEEP_MS).catch(() => {});
      return run;
    } catch (err) {
      this.d.logger.log('quarantine.digest.failed', { slot: key, node: this.d.node, error: (err as Error).message });
      return null;
    }
  }

  private arm(): void {
    if (this.stopped) return;
    const wait = this.planned ? Math.max(0, Math.min(this.planned.at - this.now(), TICK_MAX_MS)) : 0;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: Error) => this.d.logger.log('quarantine.digest.failed', { node: this.d.node, error: err.message }))
        .finally(() => {
          this.running = null;
          this.arm();
        });
    }, wait);
    this.timer.unref();
  }
}
