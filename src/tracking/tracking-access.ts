// How the surfaces of message tracking (the API's search and the
// dashboard's top lists) reach this node's tracking store: the store with
// a way to write what the recorder still holds, or the sentence that says
// why there is none to ask (tracking.enabled: false, or a store that could
// not be opened at start). Kept apart from the routes so that the daemon
// names it without loading the web framework.

import type { RunningTracking } from './start.ts';
import type { TrackingSettings } from '../config/document.ts';
import type { TrackingStore } from './tracking-store.ts';

/**
 * The store, or why there is none. `flush` writes what this node's recorder
 * holds (it writes in batches), so that what was just sent or delivered
 * shows in the answer.
 */
export type TrackingAccess = { store: TrackingStore; flush?: () => Promise<void> } | { off: string };

/** tracking.enabled: false, said the same by every surface. */
export const TRACKING_OFF = 'message tracking is off (tracking.enabled: false in the settings): nothing is recorded or searched';
export const TRACKING_UNOPENED = 'message tracking is not running on this node: its store could not be opened at start (see the tracking.error log line)';

/** The daemon's access: off while the settings in force say so; the recorder's store otherwise. */
export function trackingAccess(settings: () => TrackingSettings, running: RunningTracking, store: () => TrackingStore): () => TrackingAccess {
  return () => {
    if (!settings().enabled) return { off: TRACKING_OFF };
    const recorder = running.recorder;
    if (!recorder) return { off: TRACKING_UNOPENED };
    return { store: store(), flush: () => recorder.flush() };
  };
}
