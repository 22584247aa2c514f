// Durations as the settings write them: a whole number and a unit, `250ms`,
// `30s`, `5m`, `1h`, `5d`. Short ones must work: tests use seconds.

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; reason: string } {
  const m = /^([0-9]{1,9})(ms|s|m|h|d)$/.exec(text);
  if (!m) return { ok: false, reason: `"${text}" is not a duration (a whole number and a unit: 250ms, 30s, 5m, 1h, 5d)` };
  return { ok: true, ms: Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000) };
}

/** For settings that were validated: throws on a malformed value. */
export function durationMs(text: string): number {
  const d = parseDuration(text);
  if (!d.ok) throw new Error(d.reason);
  return d.ms;
}
