// Quarantine: the digest each local recipient gets of their quarantined mail
// (schedule, sender, where its links point, how long they work), what
// recipients may release themselves, and the user portal switch (the portal
// page itself is the user's). "Send now" posts /api/quarantine/digest.

import { useState } from 'preact/hooks';
import { CheckField, ErrorBox, Loading, TextField } from '../components/Fields.tsx';
import { Section } from '../components/Section.tsx';
import { post } from '../api.ts';
import { useCanEdit } from '../session.ts';
import { useSection } from '../useSection.ts';
import type { QuarantineSettings } from '../../../src/config/quarantine-settings.ts';

interface DigestRun {
  sent: { to: string; entries: number; id?: string }[];
  skipped: number;
}

export function QuarantinePage() {
  const canEdit = useCanEdit();
  const s = useSection<QuarantineSettings>('quarantine');
  const d = s.draft;
  const [sending, setSending] = useState(false);
  const [sent, setSent] = useState<string | null>(null);
  const [sendError, setSendError] = useState<string | null>(null);
  const digest = (patch: Partial<QuarantineSettings['digest']>) => d && s.set({ digest: { ...d.digest, ...patch } });
  const selfRelease = (patch: Partial<QuarantineSettings['self_release']>) => d && s.set({ self_release: { ...d.self_release, ...patch } });
  const sendNow = async () => {
    setSending(true);
    setSent(null);
    setSendError(null);
    try {
      const r = await post<DigestRun>('/api/quarantine/digest', {});
      setSent(r.sent.length === 0 ? 'No local recipient has quarantined mail: no digest sent.' : `Sent ${r.sent.length} digest${r.sent.length === 1 ? '' : 's'}: ${r.sent.map((x) => `${x.to} (${x.entries})`).join(', ')}.`);
    } catch (err) {
      setSendError((err as Error).message);
    } finally {
      setSending(false);
    }
  };
  return (
    <section class="page">
      <h1>Quarantine</h1>
      <p class="lead">Each local recipient with quarantined mail gets a digest listing it, with links to release or delete their copy (no login needed; each link works for one message only, until it expires).</p>
      <ErrorBox message={s.error} />
      {!d ? (
        !s.error && <Loading what="quarantine settings" />
      ) : (
        <>
          <Section id="quarantine" title="Digest and self-release" canEdit={canEdit} busy={s.busy} dirty={s.dirty} result={s.result} onApply={() => void s.applyNow()}>
            <div class="form-grid">
              <CheckField label="Send a quarantine digest" checked={d.digest.enabled} disabled={!canEdit} onChange={(v) => digest({ enabled: v })} testid="field-digest-enabled" />
              <TextField label="Schedule" value={d.digest.schedule} disabled={!canEdit} onInput={(v) => digest({ schedule: v })} hint={'"daily 08:00", "daily 08:00,13:00", "weekdays 07:30" or "hourly", in the node\'s local time.'} />
              <TextField label="Links point to (base URL)" value={d.digest.base_url ?? ''} disabled={!canEdit} onInput={(v) => digest({ base_url: v.trim() === '' ? null : v })} placeholder="https://mail.example.com:8443" hint="The admin listener as users reach it. Required when the digest is on." />
              <TextField label="Links work for" value={d.digest.link_lifetime} disabled={!canEdit} onInput={(v) => digest({ link_lifetime: v })} hint="A number and a unit, 1h to 90d: 7d." />
              <TextField label="From address" value={d.digest.from ?? ''} disabled={!canEdit} onInput={(v) => digest({ from: v.trim() === '' ? null : v })} placeholder="postmaster@this host" hint="Empty: postmaster@ the host name." />
            </div>
            <h3>Recipients may release themselves</h3>
            <div class="form-grid">
              <CheckField label="Spam" checked={d.self_release.spam} disabled={!canEdit} onChange={(v) => selfRelease({ spam: v })} testid="field-self-release-spam" />
              <CheckField label="Content rules" checked={d.self_release.content} disabled={!canEdit} onChange={(v) => selfRelease({ content: v })} testid="field-self-release-content" hint="Off by default: e.g. an executable attachment." />
              <CheckField label="Malware" checked={d.self_release.malware} disabled={!canEdit} onChange={(v) => selfRelease({ malware: v })} testid="field-self-release-malware" hint="Off by default: only an administrator releases malware." />
              <CheckField label="User portal" checked={d.portal.enabled} disabled={!canEdit} onChange={(v) => s.set({ portal: { enabled: v } })} testid="field-portal-enabled" hint="Users sign in to see their own quarantine." />
            </div>
          </Section>
          {canEdit && (
            <div class="card">
              <h2>Send the digest now</h2>
              <p>Outside the schedule, to every local recipient with quarantined mail.</p>
              <button type="button" disabled={sending || s.dirty} onClick={() => void sendNow()} data-testid="digest-send-now">
                {sending ? 'Sending…' : 'Send now'}
              </button>
              {s.dirty && <small class="hint"> Apply your changes first.</small>}
              {sent && <p data-testid="digest-sent">{sent}</p>}
              <ErrorBox message={sendError} />
            </div>
          )}
        </>
      )}
    </section>
  );
}
