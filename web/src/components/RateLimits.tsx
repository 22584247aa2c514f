// Rate limits (limits.rate) on the Relaying page: the list with each limit's
// fullest current counter, add, edit and delete in a small form, and one
// Apply that PUTs the limits section as it was loaded with only `rate`
// changed. The Apply is made against the revision the limits were loaded
// from, moved on to the active one only when the limits section is still the
// same there (an Apply of another section of this page makes a revision too):
// a colleague's newer change to the limits is refused (409), not overwritten.
// The counters come from GET /api/limits/rate, refreshed every 10 seconds.

import { useCallback, useEffect, useState } from 'preact/hooks';
import { apply, get } from '../api.ts';
import { useInterval, useLoad } from '../hooks.ts';
import { useUnsavedChanges } from '../router.ts';
import { sameValue } from '../sameValue.ts';
import { CheckField, ErrorBox, Loading, NumberField, SelectField, TextField } from './Fields.tsx';
import { Section } from './Section.tsx';
import type { ApplyResult, Limits, RateAction, RateCounterView, RateLimit, RatePer, RateWho, SectionValue } from '../types.ts';

const WHO: readonly (readonly [RateWho, string])[] = [
  ['user', 'each authenticated user'],
  ['group', 'each user group (members share one count)'],
  ['network', 'a network object (all its clients share one count)'],
  ['client', 'each client address'],
  ['sender_domain', 'each sender domain'],
];
const PER: readonly (readonly [RatePer, string])[] = [
  ['1m', 'per minute'],
  ['1h', 'per hour'],
  ['1d', 'per day (UTC)'],
];
const ACTION: readonly (readonly [RateAction, string])[] = [
  ['defer', 'defer: 450 4.7.1, the client retries later'],
  ['reject', 'reject: 550 5.7.1'],
  ['hold', 'hold: accept, keep in the queue until released'],
];
const MATCH_HINT: Record<RateWho, string> = {
  user: 'A user name; empty: every user.',
  group: 'A group name; empty: every group of the user.',
  network: 'The network object (required).',
  client: 'A network object: only its clients, each counted on its own; empty: every client.',
  sender_domain: 'A domain; empty: every sender domain.',
};

const blank = (): RateLimit => ({ who: 'user', messages: 100, per: '1h', action: 'defer' });

/** What a limit's row shows: its name, or its position. */
const nameOf = (l: RateLimit, i: number) => l.name ?? `limits.rate[${i}]`;

export function RateLimitsSection({ canEdit }: { canEdit: boolean }) {
  const [saved, setSaved] = useState<Limits | null>(null);
  const [revision, setRevision] = useState<number | null>(null);
  const [rate, setRate] = useState<RateLimit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ApplyResult | null>(null);
  const counters = useLoad(() => get<{ counters: RateCounterView[] }>('/api/limits/rate'));
  useInterval(() => void counters.reload(), 10_000);
  /** The entry being edited: its index (rate.length for a new one) and the form's value. */
  const [editing, setEditing] = useState<{ index: number; value: RateLimit } | null>(null);
  const dirty = saved !== null && rate !== null && JSON.stringify(saved.rate ?? []) !== JSON.stringify(rate);
  useUnsavedChanges(dirty);

  const load = useCallback(async () => {
    try {
      const r = await get<SectionValue<Limits>>('/api/settings/limits');
      setSaved(r.value);
      setRevision(r.revision);
      setRate(structuredClone(r.value.rate ?? []));
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);
  useEffect(() => void load(), [load]);

  if (!saved || !rate) return error ? <ErrorBox message={error} /> : <Loading what="rate limits" />;
  const fullest = (i: number): RateCounterView | undefined => (counters.data?.counters ?? []).find((c) => c.limit === i);

  const applyNow = async () => {
    setBusy(true);
    try {
      let against = revision;
      try {
        const current = await get<SectionValue<Limits>>('/api/settings/limits');
        if (sameValue(current.value, saved)) against = current.revision;
      } catch {
        // Made against the loaded revision: at worst refused as stale, never applied over a change.
      }
      const r = await apply('PUT', '/api/settings/limits', { value: { ...saved, rate }, comment: 'Rate limits (web admin)', ...(against === null ? {} : { revision: against }) });
      setResult(r);
      if (r.ok) {
        await load();
        void counters.reload();
      }
    } finally {
      setBusy(false);
    }
  };

  const save = () => {
    if (!editing) return;
    const v = tidy(editing.value);
    const next = [...rate];
    next.splice(editing.index, editing.index < rate.length ? 1 : 0, v);
    setRate(next);
    setEditing(null);
  };

  return (
    <Section
      id="ratelimits"
      title="Rate Limits"
      canEdit={canEdit}
      busy={busy}
      dirty={dirty}
      result={dirty && result?.ok ? null : result}
      onApply={() => void applyNow()}
      intro={
        <p>
          How many messages or recipients a user, a group, a network, a client address or a sender domain may send per minute, hour or day, counted across the whole installation. Over
          the limit the message is deferred, rejected, or accepted and held in the queue for you to release.
        </p>
      }
    >
      {rate.length === 0 && <p data-testid="ratelimits-empty">No rate limits: nothing is counted.</p>}
      {rate.length > 0 && (
        <table data-testid="ratelimits-table">
          <thead>
            <tr>
              <th>Limit</th>
              <th>Counts</th>
              <th>Messages</th>
              <th>Recipients</th>
              <th>Window</th>
              <th>Over the limit</th>
              <th>Now (fullest)</th>
              {canEdit && <th />}
            </tr>
          </thead>
          <tbody>
            {rate.map((l, i) => {
              const c = fullest(i);
              return (
                <tr key={i} data-testid={`ratelimit-${i}`}>
                  <td>{nameOf(l, i)}</td>
                  <td>
                    {l.who}
                    {l.match ? `: ${l.match}` : ''}
                  </td>
                  <td>{l.messages ?? '–'}</td>
                  <td>{l.recipients ?? '–'}</td>
                  <td>{l.per}</td>
                  <td>{l.action}</td>
                  <td data-testid={`ratelimit-${i}-now`}>{c ? `${c.value}: ${c.count}/${c.max} ${c.unit}` : '–'}</td>
                  {canEdit && (
                    <td>
                      <button type="button" data-testid={`ratelimit-${i}-edit`} onClick={() => setEditing({ index: i, value: structuredClone(l) })}>
                        Edit
                      </button>{' '}
                      <button type="button" class="danger" data-testid={`ratelimit-${i}-delete`} onClick={() => setRate(rate.filter((_, j) => j !== i))}>
                        Delete
                      </button>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {canEdit && !editing && (
        <button type="button" data-testid="ratelimit-add" onClick={() => setEditing({ index: rate.length, value: blank() })}>
          Add a rate limit
        </button>
      )}
      {editing && <RateLimitForm value={editing.value} isNew={editing.index >= rate.length} onChange={(value) => setEditing({ ...editing, value })} onDone={save} onCancel={() => setEditing(null)} />}
      <ErrorBox message={counters.error} />
    </Section>
  );
}

function RateLimitForm({ value: v, isNew, onChange, onDone, onCancel }: { value: RateLimit; isNew: boolean; onChange: (v: RateLimit) => void; onDone: () => void; onCancel: () => void }) {
  const set = (patch: Partial<RateLimit>) => onChange({ ...v, ...patch });
  return (
    <fieldset class="group" data-testid="ratelimit-form">
      <legend>{isNew ? 'New rate limit' : 'Edit rate limit'}</legend>
      <div class="form-grid">
        <TextField label="Name" value={v.name ?? ''} testid="ratelimit-name" hint="How logs and the counters name it (optional)." onInput={(x) => set({ name: x })} />
        <SelectField<RateWho> label="Counts" value={v.who} options={WHO} testid="ratelimit-who" onChange={(x) => set({ who: x })} />
        <TextField label="Only for" value={v.match ?? ''} testid="ratelimit-match" hint={MATCH_HINT[v.who]} onInput={(x) => set({ match: x })} />
        <NumberField label="Messages" value={v.messages ?? null} allowEmpty min={1} testid="ratelimit-messages" hint="Per window; empty: not counted." onChange={(x) => set({ messages: x ?? undefined })} />
        <NumberField label="Recipients" value={v.recipients ?? null} allowEmpty min={1} testid="ratelimit-recipients" hint="Per window; empty: not counted." onChange={(x) => set({ recipients: x ?? undefined })} />
        <SelectField<RatePer> label="Window" value={v.per} options={PER} testid="ratelimit-per" onChange={(x) => set({ per: x })} />
        <SelectField<RateAction> label="Over the limit" value={v.action} options={ACTION} testid="ratelimit-action" onChange={(x) => set({ action: x })} />
        {v.who === 'sender_domain' && (
          <CheckField label="Count inbound mail too" checked={v.inbound === true} testid="ratelimit-inbound" hint="Off: only mail from relay hosts and logged-in users counts (anyone can forge the sender domain of inbound mail)." onChange={(x) => set({ inbound: x })} />
        )}
        <TextField label="Comment" value={v.comment ?? ''} testid="ratelimit-comment" onInput={(x) => set({ comment: x })} />
      </div>
      <div class="actions">
        <button type="button" data-testid="ratelimit-done" onClick={onDone}>
          {isNew ? 'Add to the list' : 'Keep the changes'}
        </button>{' '}
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <p class="hint">The list is applied with the Apply button below; the server checks it.</p>
    </fieldset>
  );
}

/** Empty text fields and empty numbers are left out, as the server stores them. */
function tidy(l: RateLimit): RateLimit {
  const out: RateLimit = { who: l.who, per: l.per, action: l.action };
  const name = l.name?.trim();
  if (name) out.name = name;
  const match = l.match?.trim();
  if (match) out.match = match;
  if (l.messages !== undefined && l.messages !== null) out.messages = l.messages;
  if (l.recipients !== undefined && l.recipients !== null) out.recipients = l.recipients;
  if (l.inbound === true && l.who === 'sender_domain') out.inbound = true;
  const comment = l.comment?.trim();
  if (comment) out.comment = comment;
  return out;
}
