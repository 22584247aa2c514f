// Why a message is in quarantine, as self-release sees it (pure): the rule
// that quarantined it decides. antivirus.* → malware, antispam.* → spam,
// content:* (a content rule, issue 21) → content, anything else → other.
// Who may release what: administrators anything; a recipient (a signed link
// or the user portal) only what quarantine.self_release allows for the
// category; "other" never (fail closed: a rule we do not know is the
// administrator's to lift). Deleting one's own share is always allowed.

import type { QuarantineSettings } from '../config/quarantine-settings.ts';
import type { QuarantineActor, QuarantineCategory } from './quarantine-access.ts';

export function categoryOf(rule: string | undefined): QuarantineCategory {
  const r = rule ?? '';
  if (r.startsWith('antivirus.')) return 'malware';
  if (r.startsWith('antispam.')) return 'spam';
  if (r.startsWith('content:')) return 'content';
  return 'other';
}

/** Whether `by` may release a message of `category` (their own share). */
export function mayRelease(category: QuarantineCategory, by: QuarantineActor, selfRelease: QuarantineSettings['self_release']): boolean {
  if (by.kind === 'administrator') return true;
  return category === 'other' ? false : selfRelease[category] === true;
}

/** The actor as the log shows it: {kind, name} or {kind, address}. */
export function actorField(by: QuarantineActor): Record<string, string> {
  return by.kind === 'link' ? { kind: 'link', address: by.address } : { kind: by.kind, name: by.name };
}

/** The actor in an envelope's history line. */
export function actorText(by: QuarantineActor): string {
  switch (by.kind) {
    case 'administrator':
      return `administrator ${by.name}`;
    case 'link':
      return `${by.address} (digest link)`;
    case 'user':
      return `user ${by.name} (portal)`;
  }
}
