// One message's (or refused transaction's) life, from GET /api/tracking/:id:
// the connection it came on, where each recipient stands (status, the rule
// that decided, the last reply, delivery attempts), then every recorded
// event in time order — each command's decision with its rule, the scan
// verdicts, delivery attempts with the remote reply, DSNs.

import { get, seg } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { fmtSender, fmtTime } from '../format.ts';
import type { TrackEntry, TrackEvent, TrackTimeline } from '../types.ts';
import { ErrorBox, Loading } from './Fields.tsx';

/** Fields worth reading first in an event (the decision and its why); the rest follow as they came. */
const FIRST = ['action', 'status', 'rule', 'code', 'dsn', 'response', 'reply', 'text', 'reason', 'verdict', 'relay', 'recipient', 'sender'];
/** Said by the heading already (an `id` that is another message's, a DSN's, is shown). */
const hidden = (ev: TrackEvent, k: string, v: unknown) => k === 'cid' || k === 'queue_id' || (k === 'id' && v === ev.queue_id);

export const severityOf = (ev: TrackEvent): '' | 'bad' | 'warn' => {
  const f = ev.fields;
  const text = `${ev.event} ${String(f.action ?? '')} ${String(f.status ?? '')}`;
  if (/refused|reject|error|fail|bounce|blackholed|virus/.test(text)) return 'bad';
  if (/defer|tempfail|held|quarantin|warn/.test(text)) return 'warn';
  return '';
};

/** A field's value: text as it is, a list of texts (a decision's trail) one after the other, anything else as JSON. */
function shown(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(' · ');
  return JSON.stringify(v);
}

export function EventFields({ ev }: { ev: TrackEvent }) {
  const entries = Object.entries(ev.fields).filter(([k, v]) => v !== undefined && v !== null && v !== '' && !hidden(ev, k, v));
  const rank = (k: string) => {
    const i = FIRST.indexOf(k);
    return i < 0 ? FIRST.length : i;
  };
  entries.sort((a, b) => rank(a[0]) - rank(b[0]));
  return (
    <span class="fields">
      {entries.map(([k, v]) => (
        <span key={k} class={`ev-field${rank(k) < FIRST.length ? ' key' : ''}`} data-field={k}>
          <span class="ev-name">{k}</span>=<span class="ev-value">{shown(v)}</span>{' '}
        </span>
      ))}
    </span>
  );
}

function timeMs(at: number): string {
  return `${fmtTime(new Date(at).toISOString())}.${String(at % 1000).padStart(3, '0')}`;
}

function Connection({ e }: { e: TrackEntry }) {
  if (!e.client && !e.cid) return <p class="muted">Made by this relay (no SMTP client).</p>;
  return (
    <dl class="facts">
      <dt>Client</dt>
      <dd>
        <code>{e.client ?? '–'}</code>
        {e.helo ? ` (HELO ${e.helo})` : ''}
        {e.user ? `, user ${e.user}` : ''}
        {e.listener ? `, listener ${e.listener}` : ''}
      </dd>
      <dt>Node</dt>
      <dd>{e.node}</dd>
      {e.message_id && (
        <>
          <dt>Message-ID</dt>
          <dd class="addr">{e.message_id}</dd>
        </>
      )}
      {e.subject !== null && (
        <>
          <dt>Subject</dt>
          <dd>{e.subject}</dd>
        </>
      )}
      {e.size !== null && (
        <>
          <dt>Size</dt>
          <dd>{e.size} bytes</dd>
        </>
      )}
    </dl>
  );
}

export function TrackTimelineView({ id }: { id: string }) {
  const t = useLoad(() => get<TrackTimeline>(`/api/tracking/${seg(id)}`), [id]);
  if (t.error) return <ErrorBox message={t.error} />;
  if (!t.data) return <Loading what="the timeline" />;
  const { entries, events } = t.data;
  const first = entries[0];
  return (
    <div class="details timeline" data-testid="track-timeline">
      <h3>
        {first?.queue_id ? <>Message <code>{first.queue_id}</code></> : <>Transaction <code>{id}</code></>}
        {first ? <> from {fmtSender(first.sender ?? '–')}</> : null}
      </h3>
      {first && <Connection e={first} />}
      <table class="stack" aria-label="Recipients">
        <thead>
          <tr>
            <th scope="col">Recipient</th>
            <th scope="col">Status</th>
            <th scope="col">Rule</th>
            <th scope="col">Last reply</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last change</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.key} data-testid={`timeline-entry-${e.key}`}>
              <td data-label="Recipient" class="addr">{e.recipient ?? '–'}</td>
              <td data-label="Status">
                <span class={`badge st-${e.status}`}>{e.status}</span> {e.kind ? <span class="muted small">{e.kind}</span> : null}
              </td>
              <td data-label="Rule">{e.rule ?? '–'}</td>
              <td data-label="Last reply" class="pre">
                {e.code !== null && !(e.reply ?? '').startsWith(String(e.code)) ? `${e.code} ` : ''}
                {e.reply ?? ''}
                {e.relay ? <div class="muted small">from {e.relay}</div> : null}
              </td>
              <td data-label="Attempts">{e.attempts}</td>
              <td data-label="Last change" class="nowrap">{fmtTime(new Date(e.updated).toISOString())}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Events</h4>
      {t.data.truncated ? (
        <p class="note" role="status" data-testid="timeline-truncated">
          {t.data.omitted ?? 0} of {events.length + (t.data.omitted ?? 0)} events are left out: shown are the first RCPTs and the first and last of the
          other events (the connection, the queueing, the latest deliveries and DSNs).
        </p>
      ) : null}
      <ol class="log timeline-events" aria-label="Events, in time order" data-testid="timeline-events">
        {events.map((ev, i) => (
          <li key={i} class={`log-line ${severityOf(ev)}`} data-event={ev.event}>
            <time>{timeMs(ev.at)}</time> <span class="ev">{ev.event}</span> <EventFields ev={ev} />
          </li>
        ))}
        {events.length === 0 ? <li class="muted">No event recorded.</li> : null}
      </ol>
    </div>
  );
}
