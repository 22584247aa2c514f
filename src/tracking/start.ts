// Message tracking in the daemon: the recorder on the log tap, writing into
// the bundle's TrackingStore, and the retention pruning. A store that cannot
// be opened leaves the daemon running without tracking (a log line says so):
// tracking never stands in the way of mail.

import type { TrackingSettings } from '../config/document.ts';
import type { TapLogger } from '../log/logger.ts';
import type { Stores } from '../store/stores.ts';
import { TrackingRecorder } from './recorder.ts';
import { scheduleTrackingPrune } from './retention.ts';

export interface TrackingDeps {
  stores: Pick<Stores, 'tracking'>;
  node: string;
  logger: TapLogger;
  now: () => number;
  /** tracking.* of the revision in force. */
  settings: () => TrackingSettings;
}

export interface RunningTracking {
  recorder: TrackingRecorder | null;
  /** Writes what waits, stops recording and pruning (idempotent). */
  stop(): Promise<void>;
}

export function startTracking(d: TrackingDeps): RunningTracking {
  let store;
  try {
    store = d.stores.tracking;
  } catch (err) {
    d.logger.log('tracking.error', { error: `cannot open the tracking store: ${err instanceof Error ? err.message : String(err)}`, note: 'running without message tracking' });
    return { recorder: null, stop: async () => {} };
  }
  const recorder = new TrackingRecorder({ store, node: d.node, logger: d.logger, now: d.now, enabled: () => d.settings().enabled });
  const unsubscribe = d.logger.subscribe((event, fields) => recorder.observe(event, fields));
  const stopPrune = scheduleTrackingPrune({ store, retention: () => d.settings().retention, logger: d.logger, now: d.now });
  let stopping: Promise<void> | null = null;
  return {
    recorder,
    stop() {
      stopping ??= (async () => {
        stopPrune();
        unsubscribe();
        await recorder.close();
      })();
      return stopping;
    },
  };
}
