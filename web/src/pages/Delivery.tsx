// Delivery: the delivery section (on/off, smarthost, ports, timeouts,
// connection limits, TLS per destination and MTA-STS), an MTA-STS look-up, the queue section (retries, lifetime, notices), and
// the DNS resolvers and postmaster address, each with its own Apply.

import { CheckField, ErrorBox, Loading, NumberField, SelectField, TextArea, TextField } from '../components/Fields.tsx';
import { Section } from '../components/Section.tsx';
import { useCanEdit } from '../session.ts';
import type { Delivery, QueueSettings, Smarthost } from '../types.ts';
import { useSection } from '../useSection.ts';
import { cleanTlsPolicy, MtaStsFields, MtaStsLookup, TlsPolicyTable } from '../components/TlsPolicy.tsx';

export function DeliveryPage() {
  return (
    <section class="page">
      <h1>Delivery</h1>
      <p class="lead">How mail leaves: straight to the recipients' MX hosts, or through a smarthost; and how long the queue keeps trying.</p>
      <DeliverySection />
      <MtaStsLookup />
      <QueueSection />
      <DnsSection />
      <PostmasterSection />
    </section>
  );
}

/** The smarthost as sent: empty optional fields left out (an absent password keeps the stored one). */
function cleanSmarthost(s: Smarthost | null): Smarthost | null {
  if (!s) return null;
  const out: Smarthost = { host: s.host.trim(), port: s.port, tls: s.tls };
  if (s.username?.trim()) out.username = s.username.trim();
  if (s.password) out.password = s.password;
  if (s.ca?.trim()) out.ca = s.ca.trim();
  return out;
}

function DeliverySection() {
  const canEdit = useCanEdit();
  const s = useSection<Delivery>('delivery');
  const d = s.draft;
  if (!d) return s.error ? <ErrorBox message={s.error} /> : <Loading what="delivery settings" />;
  const sh = d.smarthost;
  const setSh = (patch: Partial<Smarthost>) => sh && s.set({ smarthost: { ...sh, ...patch } });
  return (
    <Section id="delivery" title="Delivery" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={s.result} onApply={() => void s.applyNow({ ...d, smarthost: cleanSmarthost(d.smarthost), tls_policy: cleanTlsPolicy(d.tls_policy) })}>
      <div class="form-grid">
        <CheckField label="Deliver mail" checked={d.enabled} disabled={!canEdit} onChange={(v) => s.set({ enabled: v })} hint="Off: mail is accepted and queued, but nothing leaves (maintenance)." testid="field-delivery-enabled" />
        <CheckField
          label="Send everything through a smarthost"
          checked={sh !== null}
          disabled={!canEdit}
          onChange={(v) => s.set({ smarthost: v ? { host: '', port: 25, tls: 'opportunistic' } : null })}
          hint="Every recipient outside the local domains goes to this host."
        />
        {sh && (
          <>
            <TextField label="Smarthost host" value={sh.host} disabled={!canEdit} onInput={(v) => setSh({ host: v })} required />
            <NumberField label="Smarthost port" value={sh.port} min={1} max={65535} disabled={!canEdit} onChange={(v) => setSh({ port: v ?? 25 })} />
            <TextField label="Smarthost user name" value={sh.username ?? ''} disabled={!canEdit} onInput={(v) => setSh({ username: v })} hint="Empty: no AUTH." />
            <TextField label="Smarthost password" type="password" value={sh.password ?? ''} disabled={!canEdit} autoComplete="new-password" onInput={(v) => setSh({ password: v })} hint="Never shown; empty keeps the stored one." />
            <SelectField
              label="Smarthost TLS"
              value={sh.tls}
              disabled={!canEdit}
              options={[
                ['opportunistic', 'Opportunistic (STARTTLS when offered)'],
                ['required', 'Required, certificate checked'],
              ]}
              onChange={(v) => setSh({ tls: v })}
            />
            <TextField label="Smarthost CA file" value={sh.ca ?? ''} disabled={!canEdit} onInput={(v) => setSh({ ca: v })} hint="PEM file for tls: required; empty: the system's CAs." />
          </>
        )}
        <NumberField label="MX port" value={d.mx_port} min={1} max={65535} disabled={!canEdit} onChange={(v) => s.set({ mx_port: v ?? 25 })} />
        <TextField label="Connect timeout" value={d.connect_timeout} disabled={!canEdit} onInput={(v) => s.set({ connect_timeout: v })} />
        <TextField label="Reply timeout" value={d.reply_timeout} disabled={!canEdit} onInput={(v) => s.set({ reply_timeout: v })} />
        <NumberField label="Connections at once" value={d.max_connections} min={1} disabled={!canEdit} onChange={(v) => s.set({ max_connections: v ?? 1 })} />
        <NumberField label="Connections per destination" value={d.max_connections_per_destination} min={1} disabled={!canEdit} onChange={(v) => s.set({ max_connections_per_destination: v ?? 1 })} />
      </div>
      <fieldset class="group" data-testid="tls-policy-table">
        <legend>TLS per destination</legend>
        <TlsPolicyTable rows={d.tls_policy} disabled={!canEdit} onChange={(tls_policy) => s.set({ tls_policy })} />
      </fieldset>
      <fieldset class="group" data-testid="mta-sts">
        <legend>MTA-STS</legend>
        <MtaStsFields value={d.mta_sts} disabled={!canEdit} onChange={(mta_sts) => s.set({ mta_sts })} />
      </fieldset>
    </Section>
  );
}

function QueueSection() {
  const canEdit = useCanEdit();
  const s = useSection<QueueSettings>('queue');
  const q = s.draft;
  if (!q) return s.error ? <ErrorBox message={s.error} /> : <Loading what="queue settings" />;
  return (
    <Section id="queue" title="Queue" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={s.result} onApply={() => void s.applyNow()}>
      <div class="form-grid">
        <TextField label="First retry after" value={q.retry.first} disabled={!canEdit} onInput={(v) => s.set({ retry: { ...q.retry, first: v } })} hint="Doubles per attempt." />
        <TextField label="Longest wait between retries" value={q.retry.max} disabled={!canEdit} onInput={(v) => s.set({ retry: { ...q.retry, max: v } })} />
        <TextField label="Give up after" value={q.lifetime} disabled={!canEdit} onInput={(v) => s.set({ lifetime: v })} hint="The sender is told (4.4.7)." />
        <TextField label="Delay warning after" value={q.delay_warning ?? ''} disabled={!canEdit} onInput={(v) => s.set({ delay_warning: v.trim() === '' ? null : v })} hint="Empty: no delay warnings." />
        <NumberField label="Largest message returned whole in a bounce (octets)" value={q.bounce_max_size} min={0} disabled={!canEdit} onChange={(v) => s.set({ bounce_max_size: v ?? 0 })} />
      </div>
    </Section>
  );
}

function DnsSection() {
  const canEdit = useCanEdit();
  const s = useSection<{ servers: string[] }>('dns');
  const d = s.draft;
  if (!d) return s.error ? <ErrorBox message={s.error} /> : <Loading what="DNS settings" />;
  return (
    <Section id="dns" title="DNS resolvers" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={s.result} onApply={() => void s.applyNow()}>
      <TextArea
        label="Resolvers (one per line)"
        value={d.servers.join('\n')}
        rows={3}
        mono
        disabled={!canEdit}
        onInput={(v) => s.set({ servers: v.split('\n').map((x) => x.trim()).filter(Boolean) })}
        hint="ip[:port]; empty: the system's resolvers."
      />
    </Section>
  );
}

function PostmasterSection() {
  const canEdit = useCanEdit();
  const s = useSection<string | null>('postmaster');
  if (!s.loaded) return s.error ? <ErrorBox message={s.error} /> : <Loading what="postmaster" />;
  return (
    <Section id="postmaster" title="Postmaster" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={s.result} onApply={() => void s.applyNow()}>
      <TextField
        label="Postmaster address"
        value={s.draft ?? ''}
        disabled={!canEdit}
        onInput={(v) => s.replace(v.trim() === '' ? null : v.trim())}
        hint="Mail to <postmaster> and our own undeliverable notices go here. Empty: postmaster at the first local domain."
      />
    </Section>
  );
}
