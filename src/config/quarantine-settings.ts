// The quarantine's settings (issue 21, docs/quarantine.md): the digest sent
// to each local recipient with quarantined mail, with signed release and
// delete links; self-release; the user portal.

import type { Reader } from './reader.ts';

export interface DigestSettings {
  enabled: boolean;
  /** When digests go out: "daily HH:MM" (the node's local time) or "hourly"; see docs/quarantine.md. */
  schedule: string;
  /** The digest's From address; null: postmaster@hostname. */
  from: string | null;
  /** Where the links point: the admin listener as users reach it (https://mail.example.com:8443); required when enabled. */
  base_url: string | null;
  /** How long a link in a digest works. */
  link_lifetime: string;
}

export interface QuarantineSettings {
  digest: DigestSettings;
  /**
   * What recipients may release themselves (links and the user portal), by
   * why the message is in quarantine; an administrator may release anything.
   * Defaults: spam yes; malware never; a content rule's quarantine no (the
   * administrator's rule, e.g. an executable attachment, is theirs to lift).
   */
  self_release: { malware: boolean; spam: boolean; content: boolean };
  /** The user portal (local and directory users sign in to see their own quarantine). */
  portal: { enabled: boolean };
}

export function defaultQuarantine(): QuarantineSettings {
  return {
    digest: { enabled: false, schedule: 'daily 08:00', from: null, base_url: null, link_lifetime: '7d' },
    self_release: { malware: false, spam: true, content: false },
    portal: { enabled: true },
  };
}

/** Reads `quarantine` (absent: the defaults). Filled in by the digest work. */
export function readQuarantine(_r: Reader, v: unknown): QuarantineSettings {
  void v;
  return defaultQuarantine();
}
