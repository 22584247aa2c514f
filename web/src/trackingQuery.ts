// The Tracking page's search form as the query string of GET /api/tracking
// (and of the page's own address, so that a reload or a link keeps the
// search), and back. A time typed without a zone is the browser's local
// time: it is sent as UTC, since the daemon would read it in its own zone.

import type { TrackStatus } from './types.ts';
import { TRACK_STATUSES } from './types.ts';

export interface TrackForm {
  from: string;
  to: string;
  client: string;
  id: string;
  message_id: string;
  subject: string;
  status: TrackStatus[];
  since: string;
  until: string;
}

export const EMPTY_FORM: TrackForm = { from: '', to: '', client: '', id: '', message_id: '', subject: '', status: [], since: '', until: '' };

const TEXT_FIELDS = ['from', 'to', 'client', 'id', 'message_id', 'subject', 'since', 'until'] as const;

/** "2026-06-15", "2026-06-15T10:30", "2026-06-15 10:30:05" in the browser's time zone as ISO UTC; anything else as typed (24h, a time with Z…). */
export function toApiTime(text: string): string {
  const t = text.trim();
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?$/.exec(t);
  if (!m) return t;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0));
  // An impossible date (2026-02-30) goes as typed: the server says what is wrong with it.
  if (Number.isNaN(d.getTime()) || d.getDate() !== Number(m[3]) || d.getMonth() !== Number(m[2]) - 1) return t;
  return d.toISOString();
}

/** The form's filters as query parameters (empty fields left out); times as the API should read them when `forApi`. */
export function formParams(f: TrackForm, forApi: boolean): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of TEXT_FIELDS) {
    const v = f[k].trim();
    if (v === '') continue;
    p.set(k, forApi && (k === 'since' || k === 'until') ? toApiTime(v) : v);
  }
  if (f.status.length > 0) p.set('status', f.status.join(','));
  return p;
}

/** The form a page address holds (/tracking?from=…&status=deferred,bounced); unknown parameters and statuses are ignored. */
export function formFromSearch(search: string): TrackForm {
  const p = new URLSearchParams(search);
  const f: TrackForm = { ...EMPTY_FORM, status: [] };
  for (const k of TEXT_FIELDS) f[k] = p.get(k) ?? '';
  const statuses = p.getAll('status').flatMap((s) => s.split(',')).map((s) => s.trim());
  f.status = TRACK_STATUSES.filter((s) => statuses.includes(s));
  return f;
}

/** The API path of a page of the search. */
export function searchPath(f: TrackForm, cursor: string | null, limit: number): string {
  const p = formParams(f, true);
  p.set('limit', String(limit));
  if (cursor) p.set('cursor', cursor);
  return `/api/tracking?${p.toString()}`;
}
