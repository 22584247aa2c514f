// Tracking: "where is this message, and why was it refused?". A search over
// the recorded entries (one per recipient of a transaction) by sender,
// recipient, client, queue id, Message-ID, subject, status and time range,
// newest first, a page at a time (Older / Newer follow the API's cursors);
// a row opens the message's timeline. The search is kept in the page's
// address, so that a reload or a link (the dashboard's) shows it again.

import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { get } from '../api.ts';
import { EmptyRow } from '../components/Boilerplate.tsx';
import { ErrorBox, Loading, SelectField, TextField } from '../components/Fields.tsx';
import { TrackTimelineView } from '../components/TrackTimeline.tsx';
import { fmtSender, fmtShort, fmtTime } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { EMPTY_FORM, formFromSearch, formParams, searchPath, type TrackForm } from '../trackingQuery.ts';
import { TRACK_STATUSES, type TrackEntry, type TrackPage, type TrackStatus } from '../types.ts';

const PAGE_SIZES = ['10', '25', '50', '100', '200'] as const;
type PageSize = (typeof PAGE_SIZES)[number];
const COLS = 8;

function reply(e: TrackEntry): string {
  const r = (e.reply ?? '').trim();
  if (e.code === null || r.startsWith(String(e.code))) return r;
  return `${e.code} ${r}`.trim();
}

export function Tracking() {
  const [form, setForm] = useState<TrackForm>(() => formFromSearch(location.search));
  const [applied, setApplied] = useState<TrackForm>(form);
  const [size, setSize] = useState<PageSize>('50');
  // The cursors of the pages shown so far: the last is the current page's (null: the newest).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [open, setOpen] = useState<string | null>(null);
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useLoad(() => get<TrackPage>(searchPath(applied, cursor, Number(size))), [applied, cursor, size]);

  const set = <K extends keyof TrackForm>(k: K) => (v: TrackForm[K]) => setForm({ ...form, [k]: v });
  const toggle = (s: TrackStatus, on: boolean) => setForm({ ...form, status: on ? TRACK_STATUSES.filter((x) => x === s || form.status.includes(x)) : form.status.filter((x) => x !== s) });
  const search = (f: TrackForm) => {
    const q = formParams(f, false).toString();
    history.replaceState(null, '', `/tracking${q ? `?${q}` : ''}`);
    setApplied({ ...f });
    setCursors([null]);
    setOpen(null);
  };
  const entries = page.data?.entries ?? [];
  const pageNo = cursors.length;

  return (
    <section class="page">
      <h1>Tracking</h1>
      <p class="lead">Every message's life as the relay saw it: one row per recipient, newest first. Open a row for its timeline: the connection, each decision with its rule, scan verdicts, delivery attempts with the remote reply, DSNs.</p>
      <form
        class="card form-grid"
        aria-labelledby="track-search-title"
        data-testid="track-form"
        onSubmit={(e) => {
          e.preventDefault();
          search(form);
        }}
      >
        <h2 id="track-search-title">Search</h2>
        <TextField label="Sender" value={form.from} onInput={set('from')} placeholder="alice@example.com, @example.com or <>" testid="track-from" />
        <TextField label="Recipient" value={form.to} onInput={set('to')} placeholder="bob@example.org or @example.org" testid="track-to" />
        <TextField label="Client address" value={form.client} onInput={set('client')} placeholder="10.1.2.3" testid="track-client" />
        <TextField label="Queue ID" value={form.id} onInput={set('id')} placeholder="as in 'queued as …'" testid="track-id" />
        <TextField label="Message-ID" value={form.message_id} onInput={set('message_id')} testid="track-message-id" />
        <TextField label="Subject" value={form.subject} onInput={set('subject')} hint="Only when subjects are recorded (tracking.subject)." testid="track-subject" />
        <TextField label="Since" value={form.since} onInput={set('since')} placeholder="24h, 7d or 2026-06-15T10:30" hint="A time ago (30m, 24h, 7d) or a date and time (your time zone)." testid="track-since" />
        <TextField label="Until" value={form.until} onInput={set('until')} placeholder="1h or 2026-06-15" testid="track-until" />
        <fieldset class="object-field status-filter" data-testid="track-status">
          <legend>Status (none ticked: any)</legend>
          {TRACK_STATUSES.map((s) => (
            <label key={s} class="status-choice">
              <input type="checkbox" checked={form.status.includes(s)} onChange={(e) => toggle(s, (e.currentTarget as HTMLInputElement).checked)} /> <span class={`badge st-${s}`}>{s}</span>
            </label>
          ))}
        </fieldset>
        <div class="actions">
          <button type="submit" class="primary" data-testid="track-search">
            Search
          </button>
          <button
            type="button"
            onClick={() => {
              setForm(EMPTY_FORM);
              search(EMPTY_FORM);
            }}
          >
            Clear
          </button>
        </div>
      </form>

      <div class="card" aria-labelledby="track-results-title">
        <h2 id="track-results-title">Results</h2>
        <div class="toolbar">
          <SelectField<PageSize>
            label="Per page"
            value={size}
            options={PAGE_SIZES.map((s) => [s, s] as const)}
            onChange={(v) => {
              setSize(v);
              setCursors([null]);
            }}
          />
          <button type="button" onClick={() => void page.reload()}>
            Refresh
          </button>
          <button type="button" data-testid="track-newer" disabled={pageNo <= 1 || page.loading} onClick={() => setCursors(cursors.slice(0, -1))}>
            ← Newer
          </button>
          <button type="button" data-testid="track-older" disabled={!page.data?.next || page.loading} onClick={() => page.data?.next && setCursors([...cursors, page.data.next])}>
            Older →
          </button>
          <span class="muted" role="status" data-testid="track-count">
            {page.data ? `Page ${pageNo}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}${page.data.next ? ', more older ones' : pageNo > 1 ? ', the oldest' : ''}` : ''}
          </span>
        </div>
        <ErrorBox message={page.error} />
        {!page.data && !page.error ? <Loading what="the entries" /> : null}
        <div class="table-wrap">
          <table class="stack tracking" data-testid="track-results">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Queue ID</th>
                <th scope="col">Status</th>
                <th scope="col">Sender</th>
                <th scope="col">Recipient</th>
                <th scope="col">Client</th>
                <th scope="col">Rule</th>
                <th scope="col">Reply</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <Fragment key={e.key}>
                  <tr data-testid={`track-row-${e.key}`} class={`clickable${open === e.key ? ' active-row' : ''}`} onClick={(ev) => (ev.target as HTMLElement).closest('button') === null && setOpen(open === e.key ? null : e.key)}>
                    <td data-label="Time" class="nowrap" title={fmtTime(new Date(e.at).toISOString())}>
                      <button type="button" class="link-button" aria-expanded={open === e.key} onClick={() => setOpen(open === e.key ? null : e.key)} title="Show the timeline">
                        {fmtShort(new Date(e.at).toISOString())}
                      </button>
                    </td>
                    <td data-label="Queue ID" class="mono">{e.queue_id ?? '–'}</td>
                    <td data-label="Status">
                      <span class={`badge st-${e.status}`}>{e.status}</span>
                    </td>
                    <td data-label="Sender" class="addr">{e.sender === null ? '–' : fmtSender(e.sender)}</td>
                    <td data-label="Recipient" class="addr">{e.recipient ?? '–'}</td>
                    <td data-label="Client" class="mono">{e.client ?? '–'}</td>
                    <td data-label="Rule">{e.rule ?? '–'}</td>
                    <td data-label="Reply" class="pre">{reply(e)}</td>
                  </tr>
                  {open === e.key && (
                    <tr class="details-row">
                      <td colSpan={COLS}>
                        <TrackTimelineView id={e.queue_id ?? e.key} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
              <EmptyRow cols={COLS} show={page.data && entries.length === 0}>
                {pageNo > 1 ? 'No older entry.' : 'No entry matches the search.'}
              </EmptyRow>
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
