// The "Recipient verification" part of a domain's form (Domains page):
// domains[].verify_recipients and its companions, as form state and back.
// "off" and empty fields are left out of the body, as the settings store
// them, so that saving a domain without touching this part changes nothing.

import type { CalloutSettings, DomainDef, VerifyRecipients } from '../types.ts';
import { SelectField, TextArea, TextField } from './Fields.tsx';

export interface VerificationState {
  mode: VerifyRecipients;
  /** One entry per line. */
  recipients: string;
  directory: string;
  callout: { timeout: string; cache_positive: string; cache_negative: string; sender: string };
}

const MODES = [
  ['off', 'Off: accept every recipient of the domain'],
  ['list', 'List: only the recipients listed here'],
  ['directory', 'Directory: addresses found in a directory'],
  ['callout', 'Callout: ask the route host (SMTP RCPT probe)'],
] as const satisfies readonly (readonly [VerifyRecipients, string])[];

export function verificationOf(d: DomainDef | null): VerificationState {
  const c = d?.callout;
  return {
    mode: d?.verify_recipients ?? 'off',
    recipients: (d?.recipients ?? []).join('\n'),
    directory: d?.directory ?? '',
    callout: { timeout: c?.timeout ?? '', cache_positive: c?.cache_positive ?? '', cache_negative: c?.cache_negative ?? '', sender: c?.sender ?? '' },
  };
}

/**
 * The keys for the domain's body: the mode and what that mode uses, only
 * what is set (a blank callout field takes the default). The fields of the
 * other modes are hidden, so they are not sent either.
 */
export function verificationBody(v: VerificationState): Partial<DomainDef> {
  const out: Partial<DomainDef> = {};
  if (v.mode === 'off') return out;
  out.verify_recipients = v.mode;
  if (v.mode === 'list') {
    const recipients = v.recipients
      .split(/[\n,]+/)
      .map((x) => x.trim())
      .filter(Boolean);
    if (recipients.length) out.recipients = recipients;
  }
  if (v.mode === 'directory' && v.directory.trim()) out.directory = v.directory.trim();
  if (v.mode === 'callout') {
    const callout: Partial<CalloutSettings> = {};
    for (const k of ['timeout', 'cache_positive', 'cache_negative', 'sender'] as const) if (v.callout[k].trim()) callout[k] = v.callout[k].trim();
    if (Object.keys(callout).length) out.callout = callout as CalloutSettings;
  }
  return out;
}

export function RecipientVerificationFields({ value, onChange }: { value: VerificationState; onChange: (v: VerificationState) => void }) {
  const set = (p: Partial<VerificationState>) => onChange({ ...value, ...p });
  const setCallout = (k: keyof VerificationState['callout'], x: string) => set({ callout: { ...value.callout, [k]: x } });
  return (
    <fieldset class="object-field" data-testid="recipient-verification">
      <legend>Recipient verification</legend>
      <SelectField
        label="Verify recipients"
        value={value.mode}
        options={MODES}
        onChange={(mode) => set({ mode })}
        testid="verify-recipients"
        hint="An unknown recipient is refused with 550 5.1.1 at RCPT, before DATA, so that the relay never bounces mail for it to a forged sender (backscatter). postmaster@ is always accepted."
      />
      {value.mode === 'list' && (
        <TextArea
          label="Recipients (one per line)"
          value={value.recipients}
          onInput={(recipients) => set({ recipients })}
          rows={5}
          mono
          testid="verify-recipients-list"
          hint='"user@domain" or "user" (this domain); "@domain" accepts every address. Compared without regard to case.'
        />
      )}
      {value.mode === 'directory' && <TextField label="Directory" value={value.directory} onInput={(directory) => set({ directory })} testid="verify-recipients-directory" placeholder="corp" hint="The name of a directory (Directories page) whose mail attributes hold the addresses." />}
      {value.mode === 'callout' && (
        <>
          <TextField label="Probe timeout" value={value.callout.timeout} onInput={(x) => setCallout('timeout', x)} placeholder="10s" testid="callout-timeout" />
          <TextField label="Keep known addresses for" value={value.callout.cache_positive} onInput={(x) => setCallout('cache_positive', x)} placeholder="1h" testid="callout-cache-positive" />
          <TextField label="Keep unknown addresses for" value={value.callout.cache_negative} onInput={(x) => setCallout('cache_negative', x)} placeholder="10m" testid="callout-cache-negative" />
          <TextField label="Probe sender (MAIL FROM)" value={value.callout.sender} onInput={(x) => setCallout('sender', x)} placeholder="empty: the null sender <>" testid="callout-sender" />
        </>
      )}
    </fieldset>
  );
}
