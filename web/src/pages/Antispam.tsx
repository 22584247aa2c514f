// Antispam: the antispam section. A form for the engine (SpamAssassin or
// rspamd) and the simple checks (SPF, DMARC, HELO, greylisting), and tables with
// add/remove rows for the lists (DNS blocklists, exceptions); one Apply for all.

import { useEffect, useId, useState } from 'preact/hooks';
import type { AntispamException, CheckName, DnsblDef } from '../../../src/config/document.ts';
import { get } from '../api.ts';
import { CheckField, ErrorBox, Loading, NumberField, SelectField, TextField } from '../components/Fields.tsx';
import { ObjectField } from '../components/ObjectField.tsx';
import { Section } from '../components/Section.tsx';
import { useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { Antispam as AntispamSettings, NetworkDef } from '../types.ts';
import { useSection } from '../useSection.ts';

export function Antispam() {
  const canEdit = useCanEdit();
  const s = useSection<AntispamSettings>('antispam');
  const nets = useLoad(() => get<NetworkDef[]>('/api/networks'));
  const netNames = (nets.data ?? []).map((n) => n.name);
  const d = s.draft;
  const applyAll = () => void s.applyNow();

  return (
    <section class="page">
      <h1>Antispam</h1>
      <p class="lead">
        The content engine scores each message after DATA; DNS blocklists, SPF, DKIM/DMARC, HELO checks and greylisting look at where the mail comes from. Relayed messages are scanned only when
        Relaying › Content Scan is on.
      </p>
      <ErrorBox message={s.error} />
      {!d ? (
        !s.error && <Loading what="antispam settings" />
      ) : (
        <Section id="antispam" title="Antispam settings" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={s.result} onApply={applyAll}>
          <fieldset class="group">
            <legend>Content engine</legend>
            <div class="form-grid">
              <CheckField label="Scan messages for spam" checked={d.enabled} disabled={!canEdit} onChange={(v) => s.set({ enabled: v })} testid="field-antispam-enabled" />
              <SelectField
                label="Engine"
                value={d.engine}
                disabled={!canEdit}
                options={[
                  ['spamassassin', 'SpamAssassin (spamd)'],
                  ['rspamd', 'rspamd'],
                ]}
                onChange={(v) => s.set({ engine: v })}
              />
              {d.engine === 'spamassassin' ? (
                <TextField label="spamd address" value={d.spamd} disabled={!canEdit} onInput={(v) => s.set({ spamd: v })} hint="host:port or a Unix socket path." />
              ) : (
                <TextField label="rspamd URL" value={d.rspamd} disabled={!canEdit} onInput={(v) => s.set({ rspamd: v })} hint="Its normal worker, e.g. http://127.0.0.1:11333." />
              )}
              <NumberField label="Spam score" value={d.spam_score} step="any" disabled={!canEdit} onChange={(v) => s.set({ spam_score: v ?? 0 })} hint="From this score on, the message is spam." />
              <NumberField label="Reject score" value={d.reject_score} step="any" allowEmpty disabled={!canEdit} onChange={(v) => s.set({ reject_score: v })} hint="From this score on: 554 5.7.1. Empty: never refuse." />
              <SelectField
                label="Action for spam"
                value={d.spam_action}
                disabled={!canEdit}
                options={[
                  ['tag', 'Tag (X-Spam-Flag and subject tag)'],
                  ['quarantine', 'Quarantine'],
                  ['off', 'Nothing (score headers only)'],
                ]}
                onChange={(v) => s.set({ spam_action: v })}
              />
              <TextField label="Subject tag" value={d.subject_tag ?? ''} disabled={!canEdit} onInput={(v) => s.set({ subject_tag: v === '' ? null : v })} hint='e.g. "[SPAM]"; empty: the Subject is left alone.' />
              <NumberField label="Largest message scanned (octets)" value={d.max_scan_size} min={0} disabled={!canEdit} onChange={(v) => s.set({ max_scan_size: v ?? 0 })} />
              <SelectField
                label="When the engine fails"
                value={d.on_error}
                disabled={!canEdit}
                options={[
                  ['tempfail', 'Temporary failure (451 4.7.0)'],
                  ['accept', 'Accept unscanned'],
                ]}
                onChange={(v) => s.set({ on_error: v })}
              />
              <TextField label="Engine timeout" value={d.timeout} disabled={!canEdit} onInput={(v) => s.set({ timeout: v })} />
            </div>
          </fieldset>

          <fieldset class="group">
            <legend>Checks on the origin</legend>
            <div class="form-grid">
              <CheckField label="SPF check" checked={d.spf.enabled} disabled={!canEdit} onChange={(v) => s.set({ spf: { ...d.spf, enabled: v } })} />
              <SelectField
                label="On SPF fail"
                value={d.spf.action}
                disabled={!canEdit}
                options={[
                  ['tag', 'Tag'],
                  ['reject', 'Reject (550 5.7.23)'],
                ]}
                onChange={(v) => s.set({ spf: { ...d.spf, action: v } })}
              />
              <CheckField label="HELO checks" checked={d.helo_checks} disabled={!canEdit} onChange={(v) => s.set({ helo_checks: v })} hint="Refuse clients without relay right that greet with our name or address, or an invalid name." />
              <TextField label="DNS timeout" value={d.dns_timeout} disabled={!canEdit} onInput={(v) => s.set({ dns_timeout: v })} hint="Per question; a timeout skips the check." />
              <CheckField label="Greylisting" checked={d.greylisting.enabled} disabled={!canEdit} onChange={(v) => s.set({ greylisting: { ...d.greylisting, enabled: v } })} />
              <TextField label="Greylisting delay" value={d.greylisting.delay} disabled={!canEdit} onInput={(v) => s.set({ greylisting: { ...d.greylisting, delay: v } })} />
              <TextField label="Greylisting expiry" value={d.greylisting.expiry} disabled={!canEdit} onInput={(v) => s.set({ greylisting: { ...d.greylisting, expiry: v } })} />
              <TextField label="Greylisting lifetime" value={d.greylisting.lifetime} disabled={!canEdit} onInput={(v) => s.set({ greylisting: { ...d.greylisting, lifetime: v } })} />
            </div>
          </fieldset>

          <fieldset class="group" data-testid="dmarc-settings">
            <legend>DKIM, DMARC and ARC</legend>
            <div class="form-grid">
              <CheckField label="Verify DKIM, DMARC and ARC" checked={d.dmarc.enabled} disabled={!canEdit} onChange={(v) => s.set({ dmarc: { ...d.dmarc, enabled: v } })} hint="On mail from outside (as SPF); the results go into Authentication-Results." />
              <SelectField
                label="On DMARC fail"
                value={d.dmarc.action}
                disabled={!canEdit}
                options={[
                  ['reject', "Follow the sender's policy (p=reject: 550 5.7.1, p=quarantine: quarantine)"],
                  ['quarantine', 'Quarantine (p=reject and p=quarantine)'],
                  ['tag', 'Tag (spam symbol DMARC_FAIL)'],
                  ['off', 'Nothing (report only)'],
                ]}
                onChange={(v) => s.set({ dmarc: { ...d.dmarc, action: v } })}
              />
              <NumberField label="DMARC_FAIL score" value={d.dmarc.score} step="any" disabled={!canEdit} onChange={(v) => s.set({ dmarc: { ...d.dmarc, score: v ?? 0 } })} hint="Points added to the spam score when a fail is tagged." />
            </div>
          </fieldset>

          <fieldset class="group" data-testid="dnsbl-table">
            <legend>DNS blocklists</legend>
            <DnsblTable rows={d.dnsbl} disabled={!canEdit} onChange={(dnsbl) => s.set({ dnsbl })} />
          </fieldset>

          <fieldset class="group" data-testid="exceptions-table">
            <legend>Exceptions</legend>
            <p class="hint">Mail from these networks or senders skips the checks ticked (none ticked: all of them).</p>
            <ExceptionsTable rows={d.exceptions} networks={netNames} disabled={!canEdit} onChange={(exceptions) => s.set({ exceptions })} />
          </fieldset>
        </Section>
      )}
    </section>
  );
}

/** What each check is called on screen. */
const CHECKS: readonly (readonly [CheckName, string])[] = [
  ['dnsbl', 'DNS blocklists'],
  ['spf', 'SPF'],
  ['helo', 'HELO checks'],
  ['greylisting', 'Greylisting'],
  ['dmarc', 'DMARC'],
];

const splitList = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter((t) => t !== '');

/** A list of words typed as "a, b c": its own text while typing, the list outside. */
function ListInput(p: { label: string; value: string[]; onChange: (v: string[]) => void; disabled?: boolean; placeholder?: string; testid?: string }) {
  const [text, setText] = useState(p.value.join(', '));
  // Follows a change from outside (a reload); not the echo of what is being typed.
  useEffect(() => {
    if (JSON.stringify(splitList(text)) !== JSON.stringify(p.value)) setText(p.value.join(', '));
  }, [JSON.stringify(p.value)]);
  return (
    <input
      type="text"
      aria-label={p.label}
      value={text}
      disabled={p.disabled}
      placeholder={p.placeholder}
      data-testid={p.testid}
      autoComplete="off"
      onInput={(e) => {
        const v = (e.currentTarget as HTMLInputElement).value;
        setText(v);
        p.onChange(splitList(v));
      }}
    />
  );
}

const replaceAt = <T,>(rows: readonly T[], i: number, row: T): T[] => rows.map((r, j) => (j === i ? row : r));
const removeAt = <T,>(rows: readonly T[], i: number): T[] => rows.filter((_, j) => j !== i);

function DnsblTable({ rows, disabled, onChange }: { rows: DnsblDef[]; disabled: boolean; onChange: (rows: DnsblDef[]) => void }) {
  return (
    <>
      {rows.length === 0 ? (
        <p class="empty">No DNS blocklists: clients are not looked up.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Zone</th>
                <th scope="col">Answers that count</th>
                <th scope="col">Action</th>
                <th scope="col">Score</th>
                {!disabled && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => {
                const name = r.zone || `row ${i + 1}`;
                return (
                  <tr key={i} data-testid={`dnsbl-row-${i}`}>
                    <td data-label="Zone">
                      <input type="text" aria-label={`Zone of blocklist ${i + 1}`} value={r.zone} disabled={disabled} placeholder="zen.spamhaus.org" autoComplete="off" onInput={(e) => onChange(replaceAt(rows, i, { ...r, zone: (e.currentTarget as HTMLInputElement).value }))} />
                    </td>
                    <td data-label="Answers that count">
                      <ListInput label={`Answers of ${name}`} value={r.answers} disabled={disabled} placeholder="any in 127.0.0.0/8" onChange={(answers) => onChange(replaceAt(rows, i, { ...r, answers }))} />
                    </td>
                    <td data-label="Action">
                      <select aria-label={`Action of ${name}`} value={r.action} disabled={disabled} onChange={(e) => onChange(replaceAt(rows, i, { ...r, action: (e.currentTarget as HTMLSelectElement).value as DnsblDef['action'] }))}>
                        <option value="reject">Reject the client</option>
                        <option value="score">Add to the spam score</option>
                      </select>
                    </td>
                    <td data-label="Score">
                      {r.action === 'score' ? (
                        <input type="number" step="any" aria-label={`Score of ${name}`} value={String(r.score)} disabled={disabled} onInput={(e) => {
                          const n = Number((e.currentTarget as HTMLInputElement).value);
                          if (Number.isFinite(n)) onChange(replaceAt(rows, i, { ...r, score: n }));
                        }} />
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    {!disabled && (
                      <td data-label="Actions" class="row-actions">
                        <button type="button" aria-label={`Remove blocklist ${name}`} onClick={() => onChange(removeAt(rows, i))}>
                          Remove
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {!disabled && (
        <p class="hint">
          <button type="button" onClick={() => onChange([...rows, { zone: '', answers: [], action: 'reject', score: 0 }])}>
            Add blocklist
          </button>{' '}
          Answers: addresses or ranges (127.0.0.2-127.0.0.11), separated by commas; empty: any answer in 127.0.0.0/8.
        </p>
      )}
    </>
  );
}

function ExceptionsTable({ rows, networks, disabled, onChange }: { rows: AntispamException[]; networks: string[]; disabled: boolean; onChange: (rows: AntispamException[]) => void }) {
  const id = useId();
  return (
    <>
      {rows.length === 0 ? (
        <p class="empty">No exceptions: every client and sender goes through the checks.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Networks</th>
                <th scope="col">Senders</th>
                <th scope="col">Checks skipped</th>
                <th scope="col">Comment</th>
                {!disabled && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => {
                const n = i + 1;
                const toggle = (c: CheckName, on: boolean) => onChange(replaceAt(rows, i, { ...r, skip: CHECKS.map(([k]) => k).filter((k) => (k === c ? on : r.skip.includes(k))) }));
                return (
                  <tr key={i} data-testid={`exception-row-${i}`}>
                    <td data-label="Networks">
                      <ObjectField label={`Networks of exception ${n}`} kind="network" value={r.networks} options={networks} disabled={disabled} onChange={(v) => onChange(replaceAt(rows, i, { ...r, networks: v }))} />
                    </td>
                    <td data-label="Senders">
                      <ListInput label={`Senders of exception ${n}`} value={r.senders} disabled={disabled} placeholder="user@example.com, example.com" onChange={(senders) => onChange(replaceAt(rows, i, { ...r, senders }))} />
                    </td>
                    <td data-label="Checks skipped">
                      {CHECKS.map(([c, label]) => (
                        <div class="field check" key={c} style={{ flexWrap: 'nowrap' }}>
                          <input id={`${id}-${i}-${c}`} type="checkbox" checked={r.skip.includes(c)} disabled={disabled} onChange={(e) => toggle(c, (e.currentTarget as HTMLInputElement).checked)} />
                          <label for={`${id}-${i}-${c}`}>{label}</label>
                        </div>
                      ))}
                    </td>
                    <td data-label="Comment">
                      <input type="text" aria-label={`Comment of exception ${n}`} value={r.comment ?? ''} disabled={disabled} autoComplete="off" onInput={(e) => {
                        const v = (e.currentTarget as HTMLInputElement).value;
                        const { comment: _c, ...rest } = r;
                        // An empty comment is no comment (not a change to "").
                        onChange(replaceAt(rows, i, v === '' ? rest : { ...rest, comment: v }));
                      }} />
                    </td>
                    {!disabled && (
                      <td data-label="Actions" class="row-actions">
                        <button type="button" aria-label={`Remove exception ${n}`} onClick={() => onChange(removeAt(rows, i))}>
                          Remove
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {!disabled && (
        <p class="hint">
          <button type="button" onClick={() => onChange([...rows, { networks: [], senders: [], skip: [] }])}>
            Add exception
          </button>{' '}
          Senders: addresses, domains or *@domain, separated by commas.
        </p>
      )}
    </>
  );
}
