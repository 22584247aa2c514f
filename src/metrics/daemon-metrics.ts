// How the daemon wires its metrics: the DaemonMetrics of this process (made
// when something can read them: the admin listener, which serves GET /metrics
// with a token, or the metrics listener), fed by the tap logger, and the
// metrics listener that follows the `metrics` setting from revision to
// revision. Collecting costs a little on every log event, so a daemon with
// neither endpoint collects nothing.

import type { TapLogger } from '../log/logger.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { openRelayReasons } from '../config/open-relay.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { censusByListing } from '../queue/queue-census.ts';
import { VERSION } from '../core/version.ts';
import { DaemonMetrics } from './metrics.ts';
import { MetricsListener } from './http-listener.ts';

export interface MetricsWiring {
  logger: TapLogger;
  snapshot: () => Snapshot;
  queue: QueueStore;
  /** Open SMTP connections by listener, of the listeners running now. */
  sessions: () => readonly { listener: string; open: number }[];
  store: () => { kind: string; reachable: boolean };
}

export class DaemonMetricsWiring {
  private readonly w: MetricsWiring;
  private metrics: DaemonMetrics | null = null;
  private unsubscribe: () => void = () => {};
  readonly listener: MetricsListener;
  /** Whether the revision in force makes an open relay, worked out once per revision. */
  private openRelay: { revision: number; open: boolean } | null = null;

  constructor(w: MetricsWiring) {
    this.w = w;
    this.listener = new MetricsListener(() => this.exposition(), w.logger);
  }

  /** Starts collecting (once); later events are counted from here on. */
  collect(): DaemonMetrics {
    if (this.metrics) return this.metrics;
    const w = this.w;
    const metrics = new DaemonMetrics({
      config: () => {
        const snap = w.snapshot();
        if (this.openRelay?.revision !== snap.revision) this.openRelay = { revision: snap.revision, open: openRelayReasons(snap.settings, snap.networks).length > 0 };
        return { revision: snap.revision, openRelay: this.openRelay.open };
      },
      sessions: w.sessions,
      census: () => (w.queue.census ? w.queue.census() : censusByListing(w.queue)),
      store: w.store,
      version: VERSION,
    });
    this.unsubscribe = w.logger.subscribe((event, fields) => metrics.observe(event, fields));
    this.metrics = metrics;
    return metrics;
  }

  /** The exposition of the metrics collected (started now if they were not). */
  exposition(): Promise<{ contentType: string; body: string }> {
    return this.collect().exposition();
  }

  /** The metrics listener as the settings in force say (an Apply calls this again). Never rejects. */
  async follow(settings: Snapshot['settings']): Promise<void> {
    // A revision stored by a version before the setting existed has no key at all.
    const wanted = settings.metrics ?? null;
    if (wanted) this.collect();
    await this.listener.apply(wanted);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.listener.close();
  }
}
