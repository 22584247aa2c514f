// Antispam: the antispam section. A form for the engine (SpamAssassin or
// rspamd) and the simple checks (SPF, HELO, greylisting), and JSON text
// areas for the lists (DNS blocklists, exceptions); one Apply for all.

import { useEffect, useState } from 'preact/hooks';
import { CheckField, ErrorBox, Loading, NumberField, SelectField, TextArea, TextField } from '../components/Fields.tsx';
import { Section } from '../components/Section.tsx';
import { useCanEdit } from '../session.ts';
import type { Antispam as AntispamSettings } from '../types.ts';
import { useSection } from '../useSection.ts';

const json = (v: unknown) => JSON.stringify(v, null, 2);

export function Antispam() {
  const canEdit = useCanEdit();
  const s = useSection<AntispamSettings>('antispam');
  const d = s.draft;
  const [dnsbl, setDnsbl] = useState('');
  const [exceptions, setExceptions] = useState('');
  const [parseError, setParseError] = useState<string | null>(null);

  // The text areas follow the server's lists whenever the section is (re)loaded.
  const loadedLists = d ? json([d.dnsbl, d.exceptions]) : '';
  useEffect(() => {
    if (!d) return;
    setDnsbl(json(d.dnsbl));
    setExceptions(json(d.exceptions));
  }, [loadedLists]);

  const applyAll = () => {
    if (!d) return;
    // Only checked to be JSON lists here; the server validates each entry and answers with its path.
    let lists: Pick<AntispamSettings, 'dnsbl' | 'exceptions'>;
    try {
      lists = { dnsbl: parseList(dnsbl, 'DNS blocklists') as AntispamSettings['dnsbl'], exceptions: parseList(exceptions, 'Exceptions') as AntispamSettings['exceptions'] };
    } catch (err) {
      setParseError((err as Error).message);
      return;
    }
    setParseError(null);
    void s.applyNow({ ...d, ...lists }).then((r) => {
      if (!r.ok) return;
      setDnsbl(json(lists.dnsbl));
      setExceptions(json(lists.exceptions));
    });
  };

  const listsDirty = d ? !sameJson(dnsbl, d.dnsbl) || !sameJson(exceptions, d.exceptions) : false;

  return (
    <section class="page">
      <h1>Antispam</h1>
      <p class="lead">
        The content engine scores each message after DATA; DNS blocklists, SPF, HELO checks and greylisting look at where the mail comes from. Relayed messages are scanned only when
        Relaying › Content Scan is on.
      </p>
      <ErrorBox message={s.error} />
      {!d ? (
        !s.error && <Loading what="antispam settings" />
      ) : (
        <Section id="antispam" title="Antispam settings" canEdit={canEdit} busy={s.busy} dirty={s.dirty || listsDirty} result={s.result} onApply={applyAll}>
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
            <TextArea
              label="DNS blocklists (JSON)"
              value={dnsbl}
              rows={6}
              mono
              disabled={!canEdit}
              onInput={setDnsbl}
              hint='A list of { "zone", "answers": ["127.0.0.2-127.0.0.11"], "action": "reject" | "score", "score" }.'
              testid="field-dnsbl"
            />
            <TextArea
              label="Exceptions (JSON)"
              value={exceptions}
              rows={6}
              mono
              disabled={!canEdit}
              onInput={setExceptions}
              hint='A list of { "networks": [objects], "senders": ["a@b", "example.com"], "skip": ["dnsbl", "spf", "helo", "greylisting"], "comment" }.'
              testid="field-exceptions"
            />
            <ErrorBox message={parseError} />
          </fieldset>
        </Section>
      )}
    </section>
  );
}

/** Whether the text holds the same JSON value (formatting aside); text that does not parse differs. */
function sameJson(text: string, value: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(text.trim() === '' ? '[]' : text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

function parseList(text: string, what: string): unknown[] {
  let v: unknown;
  try {
    v = JSON.parse(text.trim() === '' ? '[]' : text);
  } catch (err) {
    throw new Error(`${what}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(v)) throw new Error(`${what}: must be a JSON list [ … ]`);
  return v;
}
