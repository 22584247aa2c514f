// The daemon's metrics: a prom-client Registry of our own (never the global
// one) built from the catalogue. Counters and histograms move with the log
// events (observe(), fed by the daemon's tap logger through event-map.ts);
// the gauges of state (queue by state, oldest age, revision, open sessions,
// store reachability) are read when a scrape asks, each read bounded in time:
// a store that does not answer within CENSUS_TIMEOUT_MS leaves its gauges out
// of that scrape and counts a store error, and the scrape still answers.
// Nothing here can throw into the mail path: observe() swallows its errors.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { LogFields } from '../log/logger.ts';
import type { QueueCensus } from '../queue/queue-store.ts';
import { CATALOGUE, DEFAULT_METRICS_PREFIX, type MetricDef, type ScrapeGaugeName } from './catalogue.ts';
import { mapEvent, type Labels, type MetricSink } from './event-map.ts';
import { LabelGuard } from './labels.ts';

/** What the scrape-time gauges read. Every function may be slow or fail; none is awaited past its bound. */
export interface ScrapeSources {
  /** The revision in force on this node and whether it makes an open relay. */
  config(): { revision: number; openRelay: boolean };
  /** Open SMTP connections by listener (this node's running listeners). */
  sessions(): readonly { listener: string; open: number }[];
  /** The queue's census (the store's: in a cluster, every node's mail). */
  census(): Promise<QueueCensus>;
  /** The store's kind and whether it answers, as this node last saw. */
  store(): { kind: string; reachable: boolean };
  version: string;
}

export interface MetricsOptions {
  /** prom-client's process and Node.js metrics (prefix mailwarden_); default on. */
  defaults?: boolean;
  /** How long a scrape waits for the queue's census. */
  censusTimeoutMs?: number;
  now?: () => number;
}

const CENSUS_TIMEOUT_MS = 2_000;
/** A census is reused this long: the four gauges of one scrape (and a second scraper) share one query. */
const CENSUS_REUSE_MS = 1_000;

export interface Sample {
  labels: Record<string, string | number>;
  value: number;
}

/**
 * Samples with the same labels summed into one: the label guard can map two
 * sources (two listeners whose names are not fit for a label) to the same
 * value, and a series may appear only once in an exposition.
 */
export function mergeSamples(values: readonly Sample[]): Sample[] {
  const byKey = new Map<string, Sample>();
  for (const v of values) {
    const key = JSON.stringify(Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const seen = byKey.get(key);
    if (seen) seen.value += v.value;
    else byKey.set(key, { labels: v.labels, value: v.value });
  }
  return [...byKey.values()];
}

/** A gauge computed at each scrape (absent samples stay absent, unlike prom-client's Gauge, which shows 0). */
function scrapeGauge(def: MetricDef, read: () => Promise<Sample[]> | Sample[]): Metric {
  const { name, help } = def;
  const metric = {
    name,
    help,
    type: 'gauge',
    aggregator: 'sum',
    labelNames: def.labels,
    async get() {
      let values: Sample[] = [];
      try {
        values = await read();
      } catch {
        // a source that failed: its samples are absent from this scrape
      }
      return { name, help, type: 'gauge', values: mergeSamples(values), aggregator: 'sum' };
    },
    reset() {},
  };
  return metric as unknown as Metric;
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly defs = new Map<string, MetricDef>();
  private readonly guard = new LabelGuard();
  private readonly sources: ScrapeSources;
  private readonly censusTimeoutMs: number;
  private readonly now: () => number;
  /** The census being read (at most one at a time, even past its timeout) and the last answer. */
  private censusInFlight: Promise<QueueCensus> | null = null;
  private lastCensus: { at: number; value: Promise<QueueCensus | null> } | null = null;
  /** Where event-map.ts puts its updates: each label bounded, nothing thrown. */
  private readonly sink: MetricSink = {
    count: (name, labels, by = 1) => {
      if (by > 0) this.counters.get(name)?.inc(this.bounded(name, labels), by);
    },
    observe: (name, labels, value) => {
      if (Number.isFinite(value)) this.histograms.get(name)?.observe(this.bounded(name, labels), value);
    },
    set: (name, labels, value) => this.gauges.get(name)?.set(this.bounded(name, labels), value),
  };

  constructor(sources: ScrapeSources, opts: MetricsOptions = {}) {
    this.sources = sources;
    this.censusTimeoutMs = opts.censusTimeoutMs ?? CENSUS_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    const registers = [this.registry];
    for (const def of CATALOGUE) {
      this.defs.set(def.name, def);
      const common = { name: def.name, help: def.help, labelNames: [...def.labels], registers };
      // A census that fails during a scrape is counted in that scrape's store errors.
      if (def.name === 'mailwarden_store_errors_total') this.counters.set(def.name, new Counter({ ...common, collect: async () => void (await this.census()) }));
      else if (def.type === 'counter') this.counters.set(def.name, new Counter(common));
      else if (def.type === 'histogram') this.histograms.set(def.name, new Histogram({ ...common, buckets: [...(def.buckets ?? [])] }));
      else if (def.name === 'mailwarden_scan_engine_up') this.gauges.set(def.name, new Gauge(common));
      else this.registry.registerMetric(scrapeGauge(def, this.reader(def.name as ScrapeGaugeName)));
    }
    if (opts.defaults !== false) collectDefaultMetrics({ register: this.registry, prefix: DEFAULT_METRICS_PREFIX });
  }

  /** Takes one log event (the daemon's tap logger calls this for every line). Never throws. */
  observe(event: string, fields: LogFields): void {
    try {
      mapEvent(event, fields, this.sink);
    } catch {
      // a metric must never cost a log line its listeners, let alone a message
    }
  }

  /** The exposition text (Prometheus text format 0.0.4) and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Exactly the catalogue's labels, each through the guard. */
  private bounded(name: string, labels: Labels): Record<string, string> {
    const out: Record<string, string> = {};
    for (const l of this.defs.get(name)?.labels ?? []) out[l] = this.guard.value(name, l, labels[l]);
    return out;
  }

  // ---------------------------------------------------------------- scrape time

  private reader(name: ScrapeGaugeName): () => Promise<Sample[]> | Sample[] {
    const s = this.sources;
    switch (name) {
      case 'mailwarden_smtp_sessions_open':
        return () => s.sessions().map((x) => ({ labels: { listener: this.guard.value(name, 'listener', x.listener) }, value: x.open }));
      case 'mailwarden_queue_messages':
        return async () => {
          const c = await this.census();
          return c ? (['queued', 'deferred', 'held'] as const).map((state) => ({ labels: { state }, value: c[state].count })) : [];
        };
      case 'mailwarden_queue_oldest_message_age_seconds':
        return async () => {
          const c = await this.census();
          const now = this.now();
          return c ? (['queued', 'deferred', 'held'] as const).flatMap((state) => (c[state].oldest === null ? [] : [{ labels: { state }, value: Math.max(0, (now - c[state].oldest) / 1000) }])) : [];
        };
      case 'mailwarden_quarantine_messages':
        return async () => {
          const c = await this.census();
          return c ? [{ labels: {}, value: c.quarantined }] : [];
        };
      case 'mailwarden_config_revision':
        return () => [{ labels: {}, value: s.config().revision }];
      case 'mailwarden_config_open_relay':
        return () => [{ labels: {}, value: s.config().openRelay ? 1 : 0 }];
      case 'mailwarden_store_reachable':
        return () => {
          const st = s.store();
          return [{ labels: { store: st.kind }, value: st.reachable ? 1 : 0 }];
        };
      case 'mailwarden_build_info':
        return () => [{ labels: { version: s.version, store: s.store().kind }, value: 1 }];
    }
  }

  /**
   * The queue's census, or null when the store did not answer within the
   * timeout (counted as a store error). Never more than one read in flight:
   * a store that hangs is not asked again until it has answered.
   */
  private census(): Promise<QueueCensus | null> {
    const now = this.now();
    if (this.lastCensus && now - this.lastCensus.at < CENSUS_REUSE_MS) return this.lastCensus.value;
    const failed = (): null => {
      this.sink.count('mailwarden_store_errors_total', { store: 'queue' });
      return null;
    };
    let value: Promise<QueueCensus | null>;
    if (this.censusInFlight) value = Promise.resolve(failed());
    else {
      const read = Promise.resolve().then(() => this.sources.census());
      this.censusInFlight = read;
      const clear = () => {
        if (this.censusInFlight === read) this.censusInFlight = null;
      };
      read.then(clear, clear);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((done) => {
        timer = setTimeout(() => done(null), this.censusTimeoutMs);
        timer.unref();
      });
      value = Promise.race([read, late]).then(
        (c) => {
          clearTimeout(timer);
          return c ?? failed();
        },
        () => {
          clearTimeout(timer);
          return failed();
        },
      );
    }
    this.lastCensus = { at: now, value };
    return value;
  }
}
