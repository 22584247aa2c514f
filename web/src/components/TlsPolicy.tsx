// The TLS policy of the Delivery page: the delivery.tls_policy list (one row
// per destination: a domain or a next hop, the level, a CA file for verify)
// and the MTA-STS switch with a look-up of a domain's published policy
// (GET /api/delivery/mta-sts/DOMAIN, a card of its own). The list and the
// switch are part of the delivery section: its Apply sends them with the rest.

import { useState } from 'preact/hooks';
import { get } from '../api.ts';
import { useCanEdit } from '../session.ts';
import { CheckField, ErrorBox, TextField } from './Fields.tsx';
import type { MtaStsReport, MtaStsSettings, TlsLevel, TlsPolicyEntry } from '../types.ts';

const LEVELS: readonly (readonly [TlsLevel, string])[] = [
  ['none', 'None (never TLS)'],
  ['may', 'May (TLS if offered)'],
  ['encrypt', 'Encrypt (TLS or wait)'],
  ['verify', 'Verify (TLS + certificate)'],
];

const replaceAt = <T,>(rows: readonly T[], i: number, row: T): T[] => rows.map((r, j) => (j === i ? row : r));
const removeAt = <T,>(rows: readonly T[], i: number): T[] => rows.filter((_, j) => j !== i);

/** The entries as sent: the one target field kept, empty optional fields left out. */
export function cleanTlsPolicy(rows: readonly TlsPolicyEntry[]): TlsPolicyEntry[] {
  return rows.map((r) => {
    const out: TlsPolicyEntry = r.next_hop !== undefined ? { next_hop: r.next_hop.trim(), level: r.level } : { domain: (r.domain ?? '').trim(), level: r.level };
    if (r.ca?.trim()) out.ca = r.ca.trim();
    if (r.comment?.trim()) out.comment = r.comment.trim();
    return out;
  });
}

export function TlsPolicyTable({ rows, disabled, onChange }: { rows: TlsPolicyEntry[]; disabled: boolean; onChange: (rows: TlsPolicyEntry[]) => void }) {
  return (
    <>
      {rows.length === 0 ? (
        <p class="empty">No entries: STARTTLS whenever a next hop offers it (and MTA-STS where a domain publishes it).</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Applies to</th>
                <th scope="col">Domain or next hop</th>
                <th scope="col">Level</th>
                <th scope="col">CA file (verify)</th>
                {!disabled && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => {
                const isHop = r.next_hop !== undefined;
                const target = (isHop ? r.next_hop : r.domain) ?? '';
                const name = target || `entry ${i + 1}`;
                return (
                  <tr key={i} data-testid={`tls-policy-row-${i}`}>
                    <td data-label="Applies to">
                      <select
                        aria-label={`Kind of TLS entry ${i + 1}`}
                        value={isHop ? 'next_hop' : 'domain'}
                        disabled={disabled}
                        onChange={(e) => {
                          const kind = (e.currentTarget as HTMLSelectElement).value;
                          const { domain: _d, next_hop: _h, ...rest } = r;
                          onChange(replaceAt(rows, i, kind === 'next_hop' ? { ...rest, next_hop: target } : { ...rest, domain: target }));
                        }}
                      >
                        <option value="domain">Domain</option>
                        <option value="next_hop">Next hop</option>
                      </select>
                    </td>
                    <td data-label="Domain or next hop">
                      <input
                        type="text"
                        aria-label={`Domain or next hop of TLS entry ${i + 1}`}
                        value={target}
                        disabled={disabled}
                        placeholder={isHop ? 'mx.example.com or 10.0.0.5:25' : 'example.com or .example.com'}
                        autoComplete="off"
                        onInput={(e) => {
                          const v = (e.currentTarget as HTMLInputElement).value;
                          onChange(replaceAt(rows, i, isHop ? { ...r, next_hop: v } : { ...r, domain: v }));
                        }}
                      />
                    </td>
                    <td data-label="Level">
                      <select aria-label={`TLS level of ${name}`} value={r.level} disabled={disabled} onChange={(e) => onChange(replaceAt(rows, i, { ...r, level: (e.currentTarget as HTMLSelectElement).value as TlsLevel }))}>
                        {LEVELS.map(([v, label]) => (
                          <option key={v} value={v}>
                            {label}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td data-label="CA file (verify)">
                      {r.level === 'verify' ? (
                        <input type="text" aria-label={`CA file of ${name}`} value={r.ca ?? ''} disabled={disabled} placeholder="system CAs" autoComplete="off" onInput={(e) => onChange(replaceAt(rows, i, { ...r, ca: (e.currentTarget as HTMLInputElement).value }))} />
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    {!disabled && (
                      <td data-label="Actions" class="row-actions">
                        <button type="button" aria-label={`Remove TLS entry ${name}`} onClick={() => onChange(removeAt(rows, i))}>
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
          <button type="button" onClick={() => onChange([...rows, { domain: '', level: 'verify' }])}>
            Add TLS entry
          </button>{' '}
          The first entry that matches decides. Encrypt and verify never send in clear: without TLS (or, for verify, a valid certificate for the host name) the mail waits in the queue (4.7.5). A domain entry does not apply through the smarthost: name its host as a next hop.
        </p>
      )}
    </>
  );
}

export function MtaStsFields({ value, disabled, onChange }: { value: MtaStsSettings; disabled: boolean; onChange: (v: MtaStsSettings) => void }) {
  return (
    <div class="form-grid">
      <CheckField
        label="Use MTA-STS for MX deliveries"
        checked={value.enabled}
        disabled={disabled}
        onChange={(enabled) => onChange({ ...value, enabled })}
        hint="A domain whose MTA-STS policy is in enforce mode gets its mail only over TLS with a valid certificate, and only through the MX hosts the policy lists."
        testid="field-mta-sts-enabled"
      />
      <TextField label="MTA-STS fetch timeout" value={value.timeout} disabled={disabled} onInput={(timeout) => onChange({ ...value, timeout })} />
    </div>
  );
}

/** Its own card (a form of its own, never inside a section's form): a domain's published policy, looked up now. Admins only (the API's rule: it connects out). */
export function MtaStsLookup() {
  const canEdit = useCanEdit();
  const [domain, setDomain] = useState('');
  const [report, setReport] = useState<MtaStsReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const lookUp = async () => {
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      setReport(await get<MtaStsReport>(`/api/delivery/mta-sts/${encodeURIComponent(domain.trim())}`));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  if (!canEdit) return null;
  return (
    <section class="card" data-testid="section-mta-sts-lookup" aria-labelledby="h-mta-sts-lookup">
      <h2 id="h-mta-sts-lookup">MTA-STS look-up</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (domain.trim()) void lookUp();
        }}
      >
        <TextField label="Domain" value={domain} placeholder="example.com" onInput={setDomain} testid="mta-sts-domain" hint="Its _mta-sts record and policy, fetched now through the configured resolvers." />
        <div class="actions">
          <button type="submit" disabled={busy || !domain.trim()}>
            {busy ? 'Looking up…' : 'Look up'}
          </button>
        </div>
      </form>
      <ErrorBox message={error} />
      {report && (
        <dl class="facts" data-testid="mta-sts-report">
          <dt>Record</dt>
          <dd>{'id' in report.record ? `id ${report.record.id}` : report.record.error}</dd>
          {report.policy && (
            <>
              <dt>Mode</dt>
              <dd>{report.policy.mode}</dd>
              <dt>MX hosts</dt>
              <dd>{report.policy.mx.join(', ') || '—'}</dd>
              <dt>Max age</dt>
              <dd>{report.policy.max_age} s</dd>
            </>
          )}
          {report.error && (
            <>
              <dt>Policy</dt>
              <dd>{report.error}</dd>
            </>
          )}
          <dt>Effect</dt>
          <dd>{report.effect}</dd>
        </dl>
      )}
    </section>
  );
}
