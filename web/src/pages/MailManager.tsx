// Mail Manager: the queue (filter by state; Retry, Hold, Release, Bounce,
// Delete per message; Retry all) and the quarantine (reason; Release,
// Delete). Bounce and Delete ask for confirmation: they cannot be undone.

import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, call, get } from '../api.ts';
import { ConfirmButton } from '../components/ConfirmButton.tsx';
import { ErrorBox, Loading, SelectField } from '../components/Fields.tsx';
import { fmtBytes, fmtSender, fmtShort, fmtTime, plainDeliveryError } from '../format.ts';
import { useInterval, useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { Envelope, QueueRecipient } from '../types.ts';
import { EmptyRow } from '../components/Boilerplate.tsx';

type StateFilter = '' | 'queued' | 'deferred' | 'held';

interface Outcome {
  ok: boolean;
  text: string;
}

type Done = string | ((count: number) => string);

/** Runs one queue operation and says how it went (a retry says how many messages it moved). */
async function operate(method: 'POST' | 'DELETE', path: string, done: Done): Promise<Outcome> {
  try {
    const r = await call<{ ok: boolean; count?: number }>(method, path);
    return { ok: true, text: typeof done === 'string' ? `${done}.` : done(r.count ?? 0) };
  } catch (err) {
    return { ok: false, text: err instanceof ApiError ? err.message : `failed: ${(err as Error).message}` };
  }
}

export function MailManager() {
  return (
    <section class="page">
      <h1>Mail Manager</h1>
      <Queue />
      <QuarantineList />
    </section>
  );
}

function OutcomeLine({ outcome }: { outcome: Outcome | null }) {
  if (!outcome) return null;
  return (
    <p class={`outcome ${outcome.ok ? 'ok' : 'bad'}`} role={outcome.ok ? 'status' : 'alert'} data-testid="mail-outcome">
      {outcome.text}
    </p>
  );
}

/** A recipient still to be delivered of a held message is held: nothing is tried until it is released. */
const shownStatus = (r: QueueRecipient, held: boolean): string => (held && (r.status === 'deferred' || r.status === 'queued') ? 'held' : r.status);

function Recipients({ list, held }: { list: QueueRecipient[]; held: boolean }) {
  return (
    <ul class="rcpts">
      {list.map((r) => (
        <li key={r.address}>
          <span class="addr">{r.address}</span> <span class={`badge st-${shownStatus(r, held)}`}>{shownStatus(r, held)}</span>
          {r.attempts ? <span class="muted"> · {r.attempts} attempt{r.attempts === 1 ? '' : 's'}</span> : null}
        </li>
      ))}
    </ul>
  );
}

function lastError(list: QueueRecipient[]): string {
  return list
    .filter((r) => r.last_error)
    .map((r) => `${list.length > 1 ? `${r.address}: ` : ''}${r.last_status ? `${r.last_status} ` : ''}${plainDeliveryError(r.last_error!)}`)
    .join('\n');
}

function nextAttempt(list: QueueRecipient[], held: boolean): string {
  // A held message is not tried: its stored next attempt means nothing until it is released.
  if (held) return '';
  const times = list.map((r) => r.next_attempt).filter((t): t is string => !!t).sort();
  return times.length ? fmtShort(times[0]) : '';
}

function Queue() {
  const canEdit = useCanEdit();
  const [state, setState] = useState<StateFilter>('');
  const queue = useLoad(() => get<Envelope[]>(`/api/queue${state ? `?state=${state}` : ''}`), [state]);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  useInterval(() => void queue.reload(), 15_000);

  const act = async (method: 'POST' | 'DELETE', path: string, done: Done) => {
    setBusy(true);
    setOutcome(await operate(method, path, done));
    setBusy(false);
    await queue.reload();
  };
  const list = queue.data ?? [];

  return (
    <div class="card" aria-labelledby="queue-title">
      <h2 id="queue-title">Queue</h2>
      <div class="toolbar">
        <SelectField<StateFilter>
          label="State"
          value={state}
          testid="queue-state"
          options={[
            ['', 'All'],
            ['queued', 'Queued'],
            ['deferred', 'Deferred'],
            ['held', 'Held'],
          ]}
          onChange={setState}
        />
        <button type="button" onClick={() => void queue.reload()}>
          Refresh
        </button>
        {canEdit && (
          <button type="button" disabled={busy} onClick={() => void act('POST', '/api/queue/retry', (n) => (n ? `Retrying ${n} deferred message${n === 1 ? '' : 's'} now.` : 'No deferred message to retry.'))}>
            Retry all
          </button>
        )}
        <span class="muted">{queue.data ? `${list.length} message${list.length === 1 ? '' : 's'}` : ''}</span>
      </div>
      <OutcomeLine outcome={outcome} />
      <ErrorBox message={queue.error} />
      {!queue.data && !queue.error ? <Loading what="the queue" /> : null}
      <div class="table-wrap">
        <table class="queue stack">
          <thead>
            <tr>
              <th scope="col">ID</th>
              <th scope="col">Received</th>
              <th scope="col">Sender</th>
              <th scope="col">Recipients</th>
              <th scope="col">Last error</th>
              <th scope="col">Next attempt</th>
              <th scope="col">State</th>
              {canEdit && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.map((e) => (
              <Fragment key={e.id}>
                <tr data-testid={`queue-row-${e.id}`}>
                  <td data-label="ID">
                    <button type="button" class="link-button mono" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)} title="Show details">
                      {e.id}
                    </button>
                    <div class="muted small">{fmtBytes(e.size)}</div>
                  </td>
                  <td data-label="Received" class="nowrap" title={fmtTime(e.received_at)}>
                    {fmtShort(e.received_at)}
                  </td>
                  <td data-label="Sender" class="addr">{fmtSender(e.sender)}</td>
                  <td data-label="Recipients">
                    <Recipients list={e.recipients} held={!!e.held} />
                  </td>
                  <td data-label="Last error" class="pre">{lastError(e.recipients)}</td>
                  <td data-label="Next attempt">{nextAttempt(e.recipients, !!e.held)}</td>
                  <td data-label="State">
                    <span class={`badge st-${e.state ?? 'queued'}`}>{e.state}</span>
                  </td>
                  {canEdit && (
                    <td data-label="Actions" class="row-actions wrap">
                      {!e.held && (
                        <button type="button" disabled={busy} onClick={() => void act('POST', `/api/queue/${e.id}/retry`, (n) => (n ? `Retrying ${e.id} now.` : `Nothing to retry: ${e.id} has no deferred recipient (or is being delivered).`))}>
                          Retry
                        </button>
                      )}
                      {e.held ? (
                        <button type="button" disabled={busy} onClick={() => void act('POST', `/api/queue/${e.id}/release`, `${e.id} released`)}>
                          Release
                        </button>
                      ) : (
                        <button type="button" disabled={busy} onClick={() => void act('POST', `/api/queue/${e.id}/hold`, `${e.id} held`)}>
                          Hold
                        </button>
                      )}
                      <ConfirmButton label="Bounce" confirmLabel="Confirm bounce" disabled={busy} onConfirm={() => void act('POST', `/api/queue/${e.id}/bounce`, `${e.id} bounced to the sender`)} />
                      <ConfirmButton label="Delete" confirmLabel="Confirm delete" disabled={busy} onConfirm={() => void act('DELETE', `/api/queue/${e.id}`, `${e.id} deleted`)} />
                    </td>
                  )}
                </tr>
                {open === e.id && (
                  <tr class="details-row">
                    <td colSpan={canEdit ? 8 : 7}>
                      <Details env={e} />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
            <EmptyRow cols={8} show={queue.data && list.length === 0}>The queue is empty{state ? ` (state ${state})` : ''}.</EmptyRow>
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Details({ env }: { env: Envelope }) {
  return (
    <div class="details">
      {env.client && (
        <p>
          From client <code>{env.client.address}</code> (HELO {env.client.helo}
          {env.client.user ? `, user ${env.client.user}` : ''}, listener {env.client.listener}
          {env.client.tls ? ', TLS' : ''}){env.relayed ? ', relayed' : ''}.
        </p>
      )}
      <ul class="rcpts">
        {env.recipients.map((r) => (
          <li key={r.address}>
            <span class="addr">{r.address}</span>: {shownStatus(r, !!env.held)}
            {r.remote ? ` via ${r.remote}` : ''}
            {r.last_error ? ` — ${r.last_status ? `${r.last_status} ` : ''}${plainDeliveryError(r.last_error)}` : ''}
          </li>
        ))}
      </ul>
      {env.history && env.history.length > 0 && (
        <ol class="history">
          {env.history.map((h, i) => (
            <li key={i}>
              {fmtTime(h.at)} <strong>{h.event}</strong> {h.detail}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function QuarantineList() {
  const canEdit = useCanEdit();
  const list = useLoad(() => get<Envelope[]>('/api/quarantine'));
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  useInterval(() => void list.reload(), 15_000);
  const act = async (method: 'POST' | 'DELETE', path: string, done: Done) => {
    setBusy(true);
    setOutcome(await operate(method, path, done));
    setBusy(false);
    await list.reload();
  };
  const items = list.data ?? [];
  return (
    <div class="card" aria-labelledby="quarantine-title">
      <h2 id="quarantine-title">Quarantine</h2>
      <div class="toolbar">
        <button type="button" onClick={() => void list.reload()}>
          Refresh
        </button>
        <span class="muted">{list.data ? `${items.length} message${items.length === 1 ? '' : 's'}` : ''}</span>
      </div>
      <OutcomeLine outcome={outcome} />
      <ErrorBox message={list.error} />
      <div class="table-wrap">
        <table class="stack">
          <thead>
            <tr>
              <th scope="col">ID</th>
              <th scope="col">Quarantined</th>
              <th scope="col">Sender</th>
              <th scope="col">Recipients</th>
              <th scope="col">Reason</th>
              {canEdit && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id} data-testid={`quarantine-row-${e.id}`}>
                <td data-label="ID" class="mono">{e.id}</td>
                <td data-label="Quarantined">{fmtTime(e.quarantine?.at ?? e.received_at)}</td>
                <td data-label="Sender" class="addr">{fmtSender(e.sender)}</td>
                <td data-label="Recipients">{e.recipients.map((r) => r.address).join(', ')}</td>
                <td data-label="Reason">
                  {e.quarantine?.reason} {e.quarantine?.rule ? <span class="muted">({e.quarantine.rule})</span> : null}
                </td>
                {canEdit && (
                  <td data-label="Actions" class="row-actions">
                    <button type="button" disabled={busy} onClick={() => void act('POST', `/api/quarantine/${e.id}/release`, `${e.id} released for delivery`)}>
                      Release
                    </button>
                    <ConfirmButton label="Delete" confirmLabel="Confirm delete" disabled={busy} onConfirm={() => void act('DELETE', `/api/quarantine/${e.id}`, `${e.id} deleted`)} />
                  </td>
                )}
              </tr>
            ))}
            <EmptyRow cols={6} show={list.data && items.length === 0}>Nothing in quarantine.</EmptyRow>
          </tbody>
        </table>
      </div>
    </div>
  );
}
