// The quarantine's settings (issue 21, docs/quarantine.md): the digest sent
// to each local recipient with quarantined mail, with signed release and
// delete links; self-release; the user portal.

import type { Reader } from './reader.ts';
import { parseDuration } from '../core/duration.ts';
import { parseSchedule } from '../quarantine/digest-schedule.ts';

export interface DigestSettings {
  enabled: boolean;
  /** When digests go out: "hourly", "daily HH:MM[,HH:MM...]" or "weekdays HH:MM[,...]" (the node's local time); see docs/quarantine.md. */
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

/** The links' lifetime: at least an hour, at most 90 days. */
const LIFETIME_MIN = 3_600_000;
const LIFETIME_MAX = 90 * 86_400_000;

/**
 * Reads `quarantine` (absent: the defaults): the schedule's grammar
 * (src/quarantine/digest-schedule.ts), base_url an http(s) URL without query
 * or fragment (required when the digest is enabled; a warning for http: the
 * links travel in clear), from an address, link_lifetime a duration.
 */
export function readQuarantine(r: Reader, v: unknown): QuarantineSettings {
  const d = defaultQuarantine();
  const q = r.object('quarantine', v, ['digest', 'self_release', 'portal']);
  if (!q) return d;
  const dg = r.object('quarantine.digest', q.digest, ['enabled', 'schedule', 'from', 'base_url', 'link_lifetime']) ?? {};
  const enabled = r.bool('quarantine.digest.enabled', dg.enabled, d.digest.enabled);
  let schedule = r.string('quarantine.digest.schedule', dg.schedule, { def: d.digest.schedule, max: 200 }) ?? d.digest.schedule;
  const parsed = parseSchedule(schedule);
  if (!parsed.ok) {
    r.f.error('quarantine.digest.schedule', parsed.reason);
    schedule = d.digest.schedule;
  }
  let from = r.string('quarantine.digest.from', dg.from, { max: 254 }) ?? null;
  if (from !== null && !/^[^\s@<>]+@[^\s@<>]+$/.test(from)) {
    r.f.error('quarantine.digest.from', `"${from}" is not an address (local@domain)`);
    from = null;
  }
  let base_url = r.string('quarantine.digest.base_url', dg.base_url, { max: 1024 }) ?? null;
  if (base_url !== null) {
    let url: URL | null = null;
    try {
      url = new URL(base_url);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
      r.f.error('quarantine.digest.base_url', `"${base_url}" is not an http(s) URL without query, fragment or credentials (e.g. https://mail.example.com:8443)`);
      base_url = null;
    } else {
      base_url = base_url.replace(/\/+$/, '');
      if (url.protocol === 'http:') r.f.warn('quarantine.digest.base_url', 'http: the digest\'s links (which release mail without a login) travel in clear; use https');
    }
  }
  if (enabled && base_url === null) r.f.error('quarantine.digest.base_url', 'is required when quarantine.digest.enabled is true (where the links point: the admin listener as users reach it)');
  let link_lifetime = r.string('quarantine.digest.link_lifetime', dg.link_lifetime, { def: d.digest.link_lifetime, max: 32 }) ?? d.digest.link_lifetime;
  const life = parseDuration(link_lifetime);
  if (!life.ok) {
    r.f.error('quarantine.digest.link_lifetime', life.reason);
    link_lifetime = d.digest.link_lifetime;
  } else if (life.ms < LIFETIME_MIN || life.ms > LIFETIME_MAX) {
    r.f.error('quarantine.digest.link_lifetime', 'must be between 1h and 90d');
    link_lifetime = d.digest.link_lifetime;
  }
  const sr = r.object('quarantine.self_release', q.self_release, ['malware', 'spam', 'content']) ?? {};
  const pt = r.object('quarantine.portal', q.portal, ['enabled']) ?? {};
  return {
    digest: { enabled, schedule, from, base_url, link_lifetime },
    self_release: {
      malware: r.bool('quarantine.self_release.malware', sr.malware, d.self_release.malware),
      spam: r.bool('quarantine.self_release.spam', sr.spam, d.self_release.spam),
      content: r.bool('quarantine.self_release.content', sr.content, d.self_release.content),
    },
    portal: { enabled: r.bool('quarantine.portal.enabled', pt.enabled, d.portal.enabled) },
  };
}
