// What `mailwarden limits show` and GET /api/limits/rate list: the counters
// of the windows not ended, each with the configured limits that count it
// (the same bucket may serve several). Pure: the rows come from the store,
// the limits from the active settings; a counter no limit counts any more
// (its limit removed or changed) is listed with `limit: null`.

import type { RateLimit } from '../config/document.ts';
import { domainKey } from '../address/path.ts';
import { limitName, parseBucketKey } from './rate-rules.ts';
import type { RateCount } from './rate-store.ts';

export interface RateCounterView {
  /** Index in limits.rate, or null when no configured limit counts this bucket. */
  limit: number | null;
  name: string | null;
  who: string;
  /** The user, group, network object, client address or sender domain. */
  value: string;
  unit: 'messages' | 'recipients';
  count: number;
  /** The limit's number, or null. */
  max: number | null;
  per: string;
  action: string | null;
  window_start: string;
  resets_at: string;
}

/** Whether a limit counts this bucket value (a client address: asked of the network objects). */
function counts(limit: RateLimit, value: string, inNetwork: (network: string, address: string) => boolean): boolean {
  const m = limit.match;
  if (m === undefined) return limit.who !== 'network';
  if (limit.who === 'client') return inNetwork(m, value);
  if (limit.who === 'sender_domain') return domainKey(m) === value;
  return m === value;
}

export function rateCounterViews(limits: readonly RateLimit[], rows: readonly RateCount[], inNetwork: (network: string, address: string) => boolean): RateCounterView[] {
  const out: RateCounterView[] = [];
  for (const row of rows) {
    const b = parseBucketKey(row.bucket);
    if (!b) continue;
    const base = { who: b.who, value: b.value, unit: b.unit, count: row.count, per: b.per, window_start: new Date(row.start).toISOString(), resets_at: new Date(row.end).toISOString() };
    let any = false;
    limits.forEach((l, i) => {
      const max = l[b.unit];
      if (l.who !== b.who || l.per !== b.per || max === undefined || !counts(l, b.value, inNetwork)) return;
      any = true;
      out.push({ limit: i, name: limitName(l, i), ...base, max, action: l.action });
    });
    if (!any) out.push({ limit: null, name: null, ...base, max: null, action: null });
  }
  // Fullest first: what an administrator looks for.
  return out.sort((x, y) => (y.max ? y.count / y.max : 0) - (x.max ? x.count / x.max : 0) || x.who.localeCompare(y.who) || x.value.localeCompare(y.value));
}
