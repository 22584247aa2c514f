// tracking.retention kept: entries and events older than the retention go,
// shortly after the start and then every PRUNE_EVERY_MS. The store prunes
// in batches and yields between them, so that a month going at once (a
// retention shortened by an Apply) does not stall the event loop; one prune
// runs at a time. A prune that fails is a log line: tracking is not mail.

import { durationMs } from '../core/duration.ts';
import type { Logger } from '../log/logger.ts';
import type { TrackingStore } from './tracking-store.ts';

export const PRUNE_EVERY_MS = 600_000;
/** The first prune after the start (the start itself has enough to do). */
const FIRST_PRUNE_MS = 5_000;

export interface RetentionOptions {
  store: Pick<TrackingStore, 'prune'>;
  /** tracking.retention of the revision in force. */
  retention: () => string;
  logger: Logger;
  now: () => number;
  everyMs?: number;
  firstMs?: number;
}

/** Starts the pruning; returns its stop. */
export function scheduleTrackingPrune(o: RetentionOptions): () => void {
  let running = false;
  const prune = async () => {
    if (running) return;
    running = true;
    try {
      const before = o.now() - durationMs(o.retention());
      const n = await o.store.prune(before);
      if (n > 0) o.logger.log('tracking.pruned', { entries: n, before: new Date(before).toISOString() });
    } catch (err) {
      o.logger.log('tracking.error', { error: `cannot prune: ${err instanceof Error ? err.message : String(err)}` });
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void prune(), o.firstMs ?? FIRST_PRUNE_MS);
  first.unref();
  const timer = setInterval(() => void prune(), o.everyMs ?? PRUNE_EVERY_MS);
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
