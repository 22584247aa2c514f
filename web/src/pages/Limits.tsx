// Limits: every key of the `limits` section (docs/configuration.md), with
// its range in the hint. Ranges are not enforced in the browser: the server
// judges them and its message is shown under the field's label here.

import { useCallback } from 'preact/hooks';
import { get } from '../api.ts';
import { ErrorBox, Loading, NumberField, SelectField, TextField } from '../components/Fields.tsx';
import { ObjectField } from '../components/ObjectField.tsx';
import { Section } from '../components/Section.tsx';
import { useLoad } from '../hooks.ts';
import { useCanEdit } from '../session.ts';
import type { BareNewline, Limits, NetworkDef } from '../types.ts';
import { useSection } from '../useSection.ts';
import { labelled } from './screenLabels.ts';

type NumKey = 'max_message_size' | 'max_recipients' | 'max_received' | 'max_line_length' | 'max_errors' | 'max_connections' | 'max_connections_per_client' | 'ipv6_client_prefix' | 'max_auth_failures' | 'min_password_length' | 'min_free_space';
type DurKey = 'auth_failure_delay' | 'auth_failure_window' | 'idle_timeout' | 'tls_handshake_timeout' | 'shutdown_grace';

/** The label on screen and the hint of each key, in the order of the page. */
const NUMBERS: [NumKey, string, string][] = [
  ['max_message_size', 'Largest message (octets)', '1024 – 2147483647. Larger messages get 552 5.3.4 at once; the SIZE advertised in the EHLO reply changes at the next start.'],
  ['max_recipients', 'Recipients per message', '1 – 100000. The next RCPT gets 452 4.5.3.'],
  ['max_received', 'Received headers before a mail loop', '1 – 1000. More: 554 5.4.6.'],
  ['max_line_length', 'Longest command line (octets)', '512 – 65536. Longer: 500 5.5.2 and the connection closes. Used from the next start.'],
  ['max_errors', 'Refused commands per session', '1 – 1000. Then 421 4.7.0. (On submission listeners, the count of commands before AUTH changes at the next start.)'],
  ['max_connections', 'Connections at once', 'In total, from the TCP accept. Beyond: 421 4.7.0.'],
  ['max_connections_per_client', 'Connections per client address', 'Relay hosts are exempt.'],
  ['ipv6_client_prefix', 'IPv6 client network (prefix length)', '32 – 128. An IPv6 client is counted by its network of this size for the two per-client limits; 128: per address.'],
  ['max_auth_failures', 'Failed AUTH attempts per client', 'Within the window below; then 421 4.7.0.'],
  ['min_password_length', 'Shortest SMTP user password', '1 – 1024 characters. Stored passwords are not judged again.'],
  ['min_free_space', 'Free disk space needed (octets)', 'Below this in the data directory, MAIL gets 452 4.3.1.'],
];
const DURATIONS: [DurKey, string, string][] = [
  ['auth_failure_delay', 'Delay per failed AUTH', '0 – 60s, times the failures so far (at most 10 s).'],
  ['auth_failure_window', 'Failed AUTH remembered for', '1s – 1d.'],
  ['idle_timeout', 'Idle timeout', '1s – 1h. A silent client gets 421 4.4.2. Used from the next start.'],
  ['tls_handshake_timeout', 'TLS handshake timeout', '100ms – 5m.'],
  ['shutdown_grace', 'Shutdown grace', '0 – 1h. On SIGTERM, how long messages in flight may take.'],
];
const LABELS: Record<string, string> = {
  ...Object.fromEntries([...NUMBERS, ...DURATIONS].map(([k, l]) => [`limits.${k}`, l])),
  'limits.bare_newline': 'Bare line feeds (LF without CR)',
  'limits.bare_newline_networks': 'Also for these networks',
};

export function LimitsPage() {
  const canEdit = useCanEdit();
  const s = useSection<Limits>('limits');
  const nets = useLoad(useCallback(() => get<NetworkDef[]>('/api/networks'), []), []);
  const d = s.draft;
  return (
    <section class="page">
      <h1>Limits</h1>
      <p class="lead">
        What one message, one session and one client may use, and how long the relay waits. Changes apply to new connections as soon as they are applied, except those marked <em>Used from
        the next start</em>: the SMTP listeners take them when mailwarden starts.
      </p>
      {!d ? (
        s.error ? (
          <ErrorBox message={s.error} />
        ) : (
          <Loading what="limits" />
        )
      ) : (
        <Section id="limits" title="Limits" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={labelled(s.result, (p) => LABELS[p] ?? null)} onApply={() => void s.applyNow()}>
          <div class="form-grid">
            {NUMBERS.map(([k, label, hint]) => (
              <NumberField key={k} label={label} value={d[k]} hint={hint} disabled={!canEdit} testid={`field-limits-${k}`} onChange={(v) => s.set({ [k]: v ?? 0 } as Partial<Limits>)} />
            ))}
            {DURATIONS.map(([k, label, hint]) => (
              <TextField key={k} label={label} value={d[k]} hint={hint} disabled={!canEdit} testid={`field-limits-${k}`} onInput={(v) => s.set({ [k]: v.trim() } as Partial<Limits>)} />
            ))}
            <SelectField<BareNewline>
              label="Bare line feeds (LF without CR)"
              value={d.bare_newline}
              disabled={!canEdit}
              testid="field-limits-bare_newline"
              options={[
                ['normalize', 'Make them CRLF (relay hosts, authenticated clients, the networks below)'],
                ['reject', 'Refuse them (550 5.5.2)'],
              ]}
              onChange={(v) => s.set({ bare_newline: v })}
              hint="Every other client is always refused: from the Internet a bare LF is how SMTP smuggling starts."
            />
          </div>
          <ObjectField
            label="Also for these networks"
            kind="network"
            testid="field-limits-bare_newline_networks"
            value={d.bare_newline_networks}
            options={(nets.data ?? []).map((n) => n.name)}
            disabled={!canEdit}
            onChange={(v) => s.set({ bare_newline_networks: v })}
            hint="Clients (a printer, a script) whose bare line feeds get the choice above without relay rights."
          />
        </Section>
      )}
    </section>
  );
}
