// The digest's schedule (quarantine.digest.schedule), pure: its grammar and
// its slots. Accepted, in the node's local time:
//   "hourly"                  at every full hour
//   "daily HH:MM[,HH:MM...]"  every day at those times (at most 24)
//   "weekdays HH:MM[,...]"    Monday to Friday at those times
// A slot is one instant at which a digest goes out; its key (the schedule and
// the instant in UTC) is what the nodes of a cluster agree on, so that one of
// them only sends it.

export type DigestSchedule = { kind: 'hourly' } | { kind: 'daily' | 'weekdays'; /** Minutes after local midnight, sorted. */ times: number[] };

export type ScheduleParse = { ok: true; schedule: DigestSchedule } | { ok: false; reason: string };

const GRAMMAR = '"hourly", "daily HH:MM" or "weekdays HH:MM" (several times separated by commas: "daily 08:00,13:00")';

export function parseSchedule(text: string): ScheduleParse {
  const t = text.trim().toLowerCase().replace(/\s+/g, ' ');
  if (t === 'hourly') return { ok: true, schedule: { kind: 'hourly' } };
  const m = /^(daily|weekdays) ([0-9:, ]+)$/.exec(t);
  if (!m) return { ok: false, reason: `"${text}" is not a schedule: ${GRAMMAR}` };
  const times: number[] = [];
  for (const part of (m[2] ?? '').split(',').map((s) => s.trim())) {
    const hm = /^([01]?[0-9]|2[0-3]):([0-5][0-9])$/.exec(part);
    if (!hm) return { ok: false, reason: `"${part}" is not a time of day (HH:MM, 00:00 to 23:59)` };
    times.push(Number(hm[1]) * 60 + Number(hm[2]));
  }
  const uniq = [...new Set(times)].sort((a, b) => a - b);
  if (uniq.length > 24) return { ok: false, reason: 'at most 24 times a day' };
  return { ok: true, schedule: { kind: m[1] as 'daily' | 'weekdays', times: uniq } };
}

/** The first slot strictly after `now` (epoch ms). */
export function nextSlot(s: DigestSchedule, now: number): number {
  if (s.kind === 'hourly') {
    const d = new Date(now);
    d.setMinutes(0, 0, 0);
    d.setHours(d.getHours() + 1);
    return d.getTime();
  }
  // Day by day from today (local midnight), a fortnight at most (a weekend and DST changes are within it).
  for (let day = 0; day < 14; day++) {
    const base = new Date(now);
    base.setHours(0, 0, 0, 0);
    base.setDate(base.getDate() + day);
    const dow = base.getDay();
    if (s.kind === 'weekdays' && (dow === 0 || dow === 6)) continue;
    for (const min of s.times) {
      const at = new Date(base);
      at.setHours(Math.floor(min / 60), min % 60, 0, 0);
      if (at.getTime() > now) return at.getTime();
    }
  }
  throw new Error('a schedule without a slot in a fortnight');
}

/** The key of the slot at `at` for a schedule's text: the same on every node. */
export function slotKey(scheduleText: string, at: number): string {
  return `${scheduleText.trim().toLowerCase().replace(/\s+/g, ' ')}@${new Date(at).toISOString()}`;
}
