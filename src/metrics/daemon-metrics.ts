// How the daemon wires its metrics: the DaemonMetrics of this process (made
// when something can read them: the admin listener, which serves GET /metrics
// with a token, or the metrics listener), fed by the tap logger, and the
// metrics listener that follows the `metrics` setting from revision to
// revision. Collecting costs a little on every log event, so a daemon with
// neither endpoint collects nothing (and does not even load prom-client).

import type { TapLogger } from '../log/logger.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { openRelayReasons } from '../config/open-relay.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { censusByListing } from '../queue/queue-census.ts';
import { VERSION } from '../core/version.ts';
import type { DaemonMetrics } from './metrics.ts';
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
  private metrics: Promise<DaemonMetrics> | null = null;
  private unsubscribe: () => void = () => {};
  readonly listener: MetricsListener;
  /** Whether the revision in force makes an open relay, worked out once per revision. */
  private openRelay: { revision: number; open: boolean } | null = null;

  constructor(w: MetricsWiring) {
    this.w = w;
    this.listener = new MetricsListener(() => this.exposition(), w.logger);
  }

  /** Starts collecting (once); events are counted from when it resolves. */
  collect(): Promise<DaemonMetrics> {
    this.metrics ??= this.start();
    return this.metrics;
  }

  private async start(): Promise<DaemonMetrics> {
    const w = this.w;
    // prom-client is loaded only by a daemon that collects.
    const { DaemonMetrics } = await import('./metrics.ts');
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
    return metrics;
  }

  /** collect(), a failure logged (`metrics.error`) rather than thrown: metrics never stop the daemon. */
  async collectQuietly(): Promise<boolean> {
    try {
      await this.collect();
      return true;
    } catch (err) {
      this.w.logger.log('metrics.error', { error: err instanceof Error ? err.message : String(err) });
      return false;
    }
  }

  /** The exposition of the metrics collected (started now if they were not). */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return (await this.collect()).exposition();
  }

  /** The metrics listener as the settings in force say (an Apply calls this again). Never rejects. */
  async follow(settings: Snapshot['settings']): Promise<void> {
    // A revision stored by a version before the setting existed has no key at all.
    const wanted = settings.metrics ?? null;
    if (wanted && !(await this.collectQuietly())) return;
    await this.listener.apply(wanted);
  }

  async close(): Promise<void> {
    await this.metrics?.catch(() => {});
    this.unsubscribe();
    await this.listener.close();
  }
}
