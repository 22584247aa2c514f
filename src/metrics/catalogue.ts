// Every metric mailwarden exposes, in one list: its name (Prometheus
// conventions: `mailwarden_` prefix, `_total` counters, base units), type,
// help text, label names, and whether it counts this node's events or reads
// a shared store at scrape time. src/metrics/metrics.ts builds the registry
// from it, docs/metrics.md describes it, and a test holds the two together.
// Labels are bounded by construction: rule names, listener names, engines,
// states, outcomes, classes; never an address, a sender or a queue id
// (src/metrics/labels.ts enforces it).

export type CounterName =
  | 'mailwarden_smtp_connections_total'
  | 'mailwarden_smtp_tls_handshake_failures_total'
  | 'mailwarden_smtp_auth_total'
  | 'mailwarden_smtp_refusals_total'
  | 'mailwarden_recipients_accepted_total'
  | 'mailwarden_messages_accepted_total'
  | 'mailwarden_scan_verdicts_total'
  | 'mailwarden_delivery_attempts_total'
  | 'mailwarden_delivery_removed_total'
  | 'mailwarden_dsns_total'
  | 'mailwarden_config_applies_total'
  | 'mailwarden_rate_limit_trips_total'
  | 'mailwarden_store_errors_total'
  | 'mailwarden_tracking_dropped_total'
  | 'mailwarden_queue_claims_lost_total';

export type HistogramName = 'mailwarden_smtp_data_reply_seconds' | 'mailwarden_scan_duration_seconds';

/** Gauges set from events (the rest are read at scrape time). */
export type EventGaugeName = 'mailwarden_scan_engine_up';

export type ScrapeGaugeName =
  | 'mailwarden_smtp_sessions_open'
  | 'mailwarden_queue_messages'
  | 'mailwarden_queue_oldest_message_age_seconds'
  | 'mailwarden_quarantine_messages'
  | 'mailwarden_config_revision'
  | 'mailwarden_config_open_relay'
  | 'mailwarden_store_reachable'
  | 'mailwarden_build_info';

export interface MetricDef {
  name: CounterName | HistogramName | EventGaugeName | ScrapeGaugeName;
  type: 'counter' | 'histogram' | 'gauge';
  help: string;
  labels: readonly string[];
  buckets?: readonly number[];
  /** node: this node's own events or state; cluster: read from the shared store (PostgreSQL: every node's). */
  scope: 'node' | 'cluster';
}

/** From 1 ms (a commit on a fast disk) to 30 s (a slow scanner past its timeout). */
const REPLY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SCAN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const CATALOGUE: readonly MetricDef[] = [
  { name: 'mailwarden_smtp_connections_total', type: 'counter', scope: 'node', labels: ['listener', 'outcome'], help: 'SMTP connections by listener and the connect decision: accepted, refused (5xx), tempfail (421), limited (over limits.max_connections*)' },
  { name: 'mailwarden_smtp_tls_handshake_failures_total', type: 'counter', scope: 'node', labels: ['listener'], help: 'TLS handshakes (implicit TLS or STARTTLS) that failed or timed out' },
  { name: 'mailwarden_smtp_auth_total', type: 'counter', scope: 'node', labels: ['outcome'], help: 'SMTP AUTH attempts: accept, reject, tempfail, blocked (refused unheard after too many failures)' },
  { name: 'mailwarden_smtp_refusals_total', type: 'counter', scope: 'node', labels: ['stage', 'rule', 'code_class'], help: 'Refused SMTP commands by stage (connect, mail, rcpt, data, command), the rule that decided and the reply class (4xx, 5xx)' },
  { name: 'mailwarden_recipients_accepted_total', type: 'counter', scope: 'node', labels: ['kind', 'rule'], help: 'Recipients accepted at RCPT by kind (inbound, relay) and the relay rule that accepted them' },
  { name: 'mailwarden_messages_accepted_total', type: 'counter', scope: 'node', labels: ['kind', 'outcome'], help: 'Messages answered 250 at the end of DATA, by kind (relay: from a client with a relay right; inbound) and outcome (queued, held, quarantined, discarded)' },
  { name: 'mailwarden_smtp_data_reply_seconds', type: 'histogram', scope: 'node', labels: ['kind'], buckets: REPLY_BUCKETS, help: 'Time from the end of DATA (the client\'s ".") to the 250 reply: checks, scanners, the durable commit' },
  { name: 'mailwarden_scan_verdicts_total', type: 'counter', scope: 'node', labels: ['engine', 'verdict'], help: 'Content scan verdicts by engine (clamd, spamassassin, rspamd): clean, infected, ham, spam, error' },
  { name: 'mailwarden_scan_duration_seconds', type: 'histogram', scope: 'node', labels: ['engine'], buckets: SCAN_BUCKETS, help: 'Time an engine took for one message (clamd: from the start of DATA)' },
  { name: 'mailwarden_scan_engine_up', type: 'gauge', scope: 'node', labels: ['engine'], help: '1 when the engine\'s last scan on this node gave a verdict, 0 when it failed (error, timeout); absent before its first scan' },
  { name: 'mailwarden_delivery_attempts_total', type: 'counter', scope: 'node', labels: ['outcome', 'destination'], help: 'Delivery attempts per recipient by outcome (delivered, deferred, failed) and destination class (inbound: a local domain; relay: elsewhere)' },
  { name: 'mailwarden_delivery_removed_total', type: 'counter', scope: 'node', labels: ['outcome', 'destination'], help: 'Recipients an administrator took out of the queue without a delivery attempt: outcome bounced (queue bounce: failed, with a DSN to the sender); destination as for delivery attempts' },
  { name: 'mailwarden_dsns_total', type: 'counter', scope: 'node', labels: ['type', 'outcome'], help: 'Delivery status notifications by type (failure, delay, success) and outcome (queued: written to the queue for delivery; dropped: nobody to send it to)' },
  { name: 'mailwarden_config_applies_total', type: 'counter', scope: 'node', labels: [], help: 'New settings revisions this node put in force since it started (an Apply or rollback anywhere in the cluster)' },
  { name: 'mailwarden_rate_limit_trips_total', type: 'counter', scope: 'node', labels: ['limit', 'action'], help: 'Rate limit trips (limits.rate) by the limit\'s name and its action (defer, reject, hold)' },
  { name: 'mailwarden_store_errors_total', type: 'counter', scope: 'node', labels: ['store'], help: 'Failures of a store this node saw: queue (spool or queue table, including a census that did not answer), rate, postgresql (lost the database, a commit unconfirmed by the standby), tracking (the message tracking store could not be opened, written, pruned or read), and other stores that log NAME.store_error' },
  { name: 'mailwarden_tracking_dropped_total', type: 'counter', scope: 'node', labels: [], help: 'Message tracking rows this node lost (a write to the tracking store failed, or too many rows waited for it); mail is not affected' },
  { name: 'mailwarden_queue_claims_lost_total', type: 'counter', scope: 'node', labels: [], help: 'Deliveries whose claim ran out under them (possible duplicates)' },
  { name: 'mailwarden_smtp_sessions_open', type: 'gauge', scope: 'node', labels: ['listener'], help: 'SMTP connections open now on this node, by listener' },
  { name: 'mailwarden_queue_messages', type: 'gauge', scope: 'cluster', labels: ['state'], help: 'Messages in the queue by state (queued, deferred, held); absent when the store did not answer in time' },
  { name: 'mailwarden_queue_oldest_message_age_seconds', type: 'gauge', scope: 'cluster', labels: ['state'], help: 'Age of the oldest message of each state (since it was received); absent for a state with no message' },
  { name: 'mailwarden_quarantine_messages', type: 'gauge', scope: 'cluster', labels: [], help: 'Messages in the quarantine; absent when the store did not answer in time' },
  { name: 'mailwarden_config_revision', type: 'gauge', scope: 'node', labels: [], help: 'The settings revision in force on this node' },
  { name: 'mailwarden_config_open_relay', type: 'gauge', scope: 'node', labels: [], help: '1 when the revision in force makes an open relay (relaying.open_relay_acknowledged with relay rights that reach the Internet), else 0' },
  { name: 'mailwarden_store_reachable', type: 'gauge', scope: 'node', labels: ['store'], help: '1 when the store answers as this node last saw it (the embedded store: always), else 0' },
  { name: 'mailwarden_build_info', type: 'gauge', scope: 'node', labels: ['version', 'store'], help: 'Always 1: the version running and the kind of store (embedded, postgresql)' },
];

/** The prefix of prom-client's process and Node.js metrics (collectDefaultMetrics). */
export const DEFAULT_METRICS_PREFIX = 'mailwarden_';
