// What each log event (src/log/logger.ts, one structured line per event)
// means for the counters and histograms: pure, it only calls a MetricSink,
// so that every mapping is tested without prom-client or a daemon. The
// fields read here are the log lines' own; a label value is handed on as the
// event gives it and LabelGuard (src/metrics/labels.ts) bounds it.

import type { LogFields } from '../log/logger.ts';
import type { CounterName, EventGaugeName, HistogramName } from './catalogue.ts';

export type Labels = Record<string, unknown>;

export interface MetricSink {
  count(name: CounterName, labels: Labels, by?: number): void;
  observe(name: HistogramName, labels: Labels, value: number): void;
  set(name: EventGaugeName, labels: Labels, value: number): void;
}

/** "4xx" or "5xx" for an SMTP reply code; "other" for anything else. */
export function codeClass(code: unknown): string {
  return typeof code === 'number' && code >= 400 && code < 600 ? `${Math.floor(code / 100)}xx` : 'other';
}

/** A throttled line (src/log/log-throttle.ts) stands for `suppressed` events; any other for one. */
function times(f: LogFields): number {
  return typeof f.suppressed === 'number' && f.suppressed > 0 ? f.suppressed : 1;
}

function refusal(sink: MetricSink, stage: string, rule: unknown, code: unknown, by = 1): void {
  sink.count('mailwarden_smtp_refusals_total', { stage, rule, code_class: codeClass(code) }, by);
}

/** The code of a line that has one, else what its action implies (connect: 554 or 421). */
function codeOf(f: LogFields, reject: number, tempfail: number): unknown {
  return typeof f.code === 'number' ? f.code : f.action === 'tempfail' ? tempfail : reject;
}

const kindOf = (f: LogFields): string => (f.relayed === true ? 'relay' : 'inbound');

/** End of DATA answered 250: the `.`→250 time of the line (reply_ms), when it has one. */
function replied(sink: MetricSink, f: LogFields): void {
  if (typeof f.reply_ms === 'number' && f.reply_ms >= 0) sink.observe('mailwarden_smtp_data_reply_seconds', { kind: kindOf(f) }, f.reply_ms / 1000);
}

/** The engines' verdicts and times from a message line's `scan` field (src/scan/scan-policy.ts: virus, spam). */
export function scanned(sink: MetricSink, scan: unknown): void {
  if (!scan || typeof scan !== 'object') return;
  const s = scan as { virus?: unknown; spam?: unknown };
  for (const part of [s.virus, s.spam]) {
    if (!part || typeof part !== 'object') continue;
    const e = part as { scanned?: unknown; engine?: unknown; ms?: unknown; verdict?: unknown; spam?: unknown };
    // "checks": the blocklists' points scored without an engine; nothing was asked.
    if (e.scanned !== true || typeof e.engine !== 'string' || e.engine === 'checks') continue;
    const verdict = e.verdict === 'scored' ? (e.spam === true ? 'spam' : 'ham') : e.verdict;
    sink.count('mailwarden_scan_verdicts_total', { engine: e.engine, verdict });
    if (typeof e.ms === 'number' && e.ms >= 0) sink.observe('mailwarden_scan_duration_seconds', { engine: e.engine }, e.ms / 1000);
    sink.set('mailwarden_scan_engine_up', { engine: e.engine }, verdict === 'error' ? 0 : 1);
  }
}

/** Takes one log event. Unknown events change nothing. */
export function mapEvent(event: string, f: LogFields, sink: MetricSink): void {
  switch (event) {
    case 'connect': {
      const outcome = f.action === 'accept' ? 'accepted' : f.action === 'tempfail' ? 'tempfail' : 'refused';
      sink.count('mailwarden_smtp_connections_total', { listener: f.listener, outcome });
      if (f.action !== 'accept') refusal(sink, 'connect', f.rule, codeOf(f, 554, 421));
      return;
    }
    case 'connect.limit': {
      const n = times(f);
      sink.count('mailwarden_smtp_connections_total', { listener: f.listener, outcome: 'limited' }, n);
      refusal(sink, 'connect', `limits.${String(f.limit)}`, 421, n);
      return;
    }
    case 'tls.handshake_failed':
      sink.count('mailwarden_smtp_tls_handshake_failures_total', { listener: f.listener }, times(f));
      return;
    case 'auth':
      sink.count('mailwarden_smtp_auth_total', { outcome: f.action });
      return;
    case 'auth.blocked':
      sink.count('mailwarden_smtp_auth_total', { outcome: 'blocked' });
      return;
    case 'command.refused':
      // rule: only on the refusal that reached limits.max_errors (its 421); any other is the command gate's.
      refusal(sink, 'command', f.rule ?? 'command', f.code);
      return;
    case 'mail':
      if (f.action !== 'accept') refusal(sink, 'mail', f.rule, codeOf(f, 550, 451));
      return;
    case 'rcpt':
      if (f.action === 'accept') {
        if (f.duplicate !== true) sink.count('mailwarden_recipients_accepted_total', { kind: f.kind, rule: f.rule });
      } else refusal(sink, 'rcpt', f.rule, codeOf(f, 550, 451));
      return;
    case 'data.refused':
    case 'antispam.refused':
      refusal(sink, 'data', f.rule, f.code);
      return;
    case 'scan.refused':
      refusal(sink, 'data', f.rule, f.code);
      scanned(sink, f.scan);
      return;
    case 'data.error':
      // Not committed: the client got 451 4.3.0. Committed: the 250 stood, its queued line counted it.
      if (f.committed !== true) refusal(sink, 'data', 'internal', 451);
      return;
    case 'queued':
    case 'quarantined':
    case 'scan.blackholed': {
      const outcome = event === 'quarantined' ? 'quarantined' : event === 'scan.blackholed' ? 'discarded' : f.held === true ? 'held' : 'queued';
      sink.count('mailwarden_messages_accepted_total', { kind: kindOf(f), outcome });
      replied(sink, f);
      scanned(sink, f.scan);
      return;
    }
    case 'delivery':
      // An administrator's bounce (src/queue/scheduler.ts: by 'administrator') failed the recipient without trying it.
      if (f.by === 'administrator') sink.count('mailwarden_delivery_removed_total', { outcome: 'bounced', destination: f.kind ?? 'unknown' });
      else sink.count('mailwarden_delivery_attempts_total', { outcome: f.status, destination: f.kind ?? 'unknown' });
      return;
    case 'dsn.queued':
    case 'dsn.dropped':
      sink.count('mailwarden_dsns_total', { type: f.type, outcome: event === 'dsn.queued' ? 'queued' : 'dropped' });
      return;
    case 'revision.applied':
      sink.count('mailwarden_config_applies_total', {});
      return;
    case 'rate.limited':
      sink.count('mailwarden_rate_limit_trips_total', { limit: f.name ?? f.limit, action: f.action });
      return;
    case 'queue.claim_lost':
      sink.count('mailwarden_queue_claims_lost_total', {});
      return;
    case 'queue.error':
    case 'spool.corrupt':
      sink.count('mailwarden_store_errors_total', { store: 'queue' });
      return;
    case 'store.unreachable':
    case 'store.sync_unconfirmed':
      sink.count('mailwarden_store_errors_total', { store: 'postgresql' });
      return;
    case 'tracking.error':
    case 'preview.error':
      // The tracking store could not be opened, written (src/tracking/recorder.ts: at most one line per
      // 10 s while writes fail), pruned, or read for an impact preview.
      sink.count('mailwarden_store_errors_total', { store: 'tracking' });
      return;
    case 'tracking.dropped':
      // One line for the rows lost since the last one (a failed write, or too many waiting).
      if (typeof f.rows === 'number' && f.rows > 0) sink.count('mailwarden_tracking_dropped_total', {}, f.rows);
      return;
    default:
      // rate.store_error, and any later store's NAME.store_error.
      if (event.endsWith('.store_error')) sink.count('mailwarden_store_errors_total', { store: event.slice(0, -'.store_error'.length) });
  }
}
