// What an administrator types to search the tracking store, read into a
// TrackQuery: the same rules for `GET /api/tracking`'s query parameters and
// `mailwarden track`'s flags, so that a search means the same on both. Pure:
// no store, no clock but the `now` it is given. Every value is bounded and a
// bad one is refused with a sentence naming the parameter, never guessed at.

import { parseDuration } from '../core/duration.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { TRACK_STATUSES, type TrackQuery, type TrackStatus } from './tracking-store.ts';

/** Entries per page when none is asked for, and the most a page may hold (the store's own bounds). */
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

/** The search's words, as typed (a flag or query parameter may be given more than once only for `status`). */
export interface SearchArgs {
  from?: string | undefined;
  to?: string | undefined;
  client?: string | undefined;
  id?: string | undefined;
  message_id?: string | undefined;
  subject?: string | undefined;
  status?: string | readonly string[] | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit?: string | undefined;
  cursor?: string | undefined;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const QUEUE_ID = /^[0-9a-z]{16}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A point in time: an ISO date or time (`2026-06-15`, `2026-06-15T10:30`,
 * `2026-06-15 10:30:00`, with `Z` or an offset such as `+02:00` to be exact;
 * without one it is the local time of the machine that reads it, as
 * journalctl and date read it), or a time before `now` such as `30m`, `24h`,
 * `7d` (a whole number and s, m, h or d).
 */
export function parseWhen(text: string, now: number): Parsed<number> {
  const t = text.trim();
  if (t === '') return { ok: false, error: 'is empty' };
  const rel = /^([0-9]{1,9})(s|m|h|d)$/.exec(t);
  if (rel) {
    const d = parseDuration(t);
    if (!d.ok) return { ok: false, error: d.reason };
    return { ok: true, value: now - d.ms };
  }
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,3}))?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$/i.exec(t);
  if (!m) return { ok: false, error: `"${short(t)}" is neither a time (2026-06-15, 2026-06-15T10:30, 2026-06-15T10:30:00Z) nor a time ago (30m, 24h, 7d)` };
  const [year, month, day, hour, minute, second, milli] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0', (m[7] ?? '0').padEnd(3, '0')].map(Number) as [number, number, number, number, number, number, number];
  const zone = m[8];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return { ok: false, error: `"${short(t)}" is not a valid date and time` };
  let at: number;
  if (zone === undefined) {
    at = new Date(year, month - 1, day, hour, minute, second, milli).getTime();
  } else {
    let offset = 0;
    if (zone.toUpperCase() !== 'Z') {
      const z = /^([+-])([0-9]{2}):?([0-9]{2})$/.exec(zone);
      const oh = Number(z?.[2]);
      const om = Number(z?.[3]);
      if (!z || oh > 23 || om > 59) return { ok: false, error: `"${short(t)}" has an offset that is not one` };
      offset = (z[1] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
    }
    at = Date.UTC(year, month - 1, day, hour, minute, second, milli) - offset;
  }
  // 2026-02-30 would roll over to March: a day the month does not have is refused.
  const check = zone === undefined ? new Date(at) : new Date(Date.UTC(year, month - 1, day));
  const [cy, cm, cd] = zone === undefined ? [check.getFullYear(), check.getMonth() + 1, check.getDate()] : [check.getUTCFullYear(), check.getUTCMonth() + 1, check.getUTCDate()];
  if (!Number.isFinite(at) || cy !== year || cm !== month || cd !== day) return { ok: false, error: `"${short(t)}" is not a valid date and time` };
  return { ok: true, value: at };
}

/** Statuses as a comma-separated list, or several of them (a repeated flag or parameter); each one of TRACK_STATUSES. */
export function parseStatuses(input: string | readonly string[]): Parsed<TrackStatus[]> {
  const parts = (typeof input === 'string' ? [input] : input).flatMap((s) => s.split(',')).map((s) => s.trim().toLowerCase());
  if (parts.length > 64) return { ok: false, error: 'lists too many statuses' };
  const out: TrackStatus[] = [];
  for (const p of parts) {
    if (p === '') continue;
    if (!(TRACK_STATUSES as readonly string[]).includes(p)) return { ok: false, error: `"${short(p)}" is not a status (one of ${TRACK_STATUSES.join(', ')})` };
    if (!out.includes(p as TrackStatus)) out.push(p as TrackStatus);
  }
  if (out.length === 0) return { ok: false, error: `names no status (one of ${TRACK_STATUSES.join(', ')})` };
  return { ok: true, value: out };
}

/** A sender or recipient to search for: a whole address (or a bare local part: postmaster), `@domain` for a whole domain, or `<>` for the null sender (from only). */
export function parseAddressArg(text: string, nullAllowed: boolean): Parsed<string> {
  const t = text.trim();
  if (t === '') return { ok: false, error: nullAllowed ? 'is empty (write <> for the null sender)' : 'is empty' };
  if (t === '<>') return nullAllowed ? { ok: true, value: '' } : { ok: false, error: 'cannot be the null address <> (only a sender can)' };
  const a = t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1) : t;
  if (a.length > 320 || CONTROL.test(a) || /\s/.test(a)) return { ok: false, error: `"${short(a)}" is not an address` };
  // A bare local part is an address too: RCPT TO:<postmaster> (rule 6).
  if (a === '' || a.endsWith('@') || a === '@') return { ok: false, error: `"${short(a)}" is not an address: give local@domain, or @domain for every address of a domain` };
  return { ok: true, value: a.toLowerCase() };
}

/**
 * Reads the search's words into a TrackQuery; the first bad one is refused
 * with `name: why` (the name as the caller spelt the parameter: `flag`
 * turns `message_id` into `--message-id` for the CLI).
 */
export function trackQueryFrom(args: SearchArgs, now: number, flag: (name: string) => string = (n) => n): Parsed<TrackQuery> {
  const q: TrackQuery = {};
  const bad = (name: string, why: string): Parsed<TrackQuery> => ({ ok: false, error: `${flag(name)}: ${why}` });
  const text = (name: string, v: string, max: number): string | null => {
    if (v.length > max) return `is longer than ${max} characters`;
    if (CONTROL.test(v)) return 'holds a control character';
    if (v.trim() === '') return 'is empty';
    return null;
  };
  if (args.from !== undefined) {
    const r = parseAddressArg(args.from, true);
    if (!r.ok) return bad('from', r.error);
    q.from = r.value;
  }
  if (args.to !== undefined) {
    const r = parseAddressArg(args.to, false);
    if (!r.ok) return bad('to', r.error);
    q.to = r.value;
  }
  if (args.client !== undefined) {
    const ip = parseIp(args.client.trim());
    if (!ip.ok) return bad('client', `"${short(args.client)}" is ${ip.reason === 'not an IP address' ? 'not an IP address' : ip.reason}`);
    // As the listeners log it: 10.1.2.3 for ::ffff:10.1.2.3, RFC 5952 for IPv6.
    q.client = formatIp(ip.value);
  }
  if (args.id !== undefined) {
    const id = args.id.trim();
    if (!QUEUE_ID.test(id)) return bad('id', `"${short(id)}" is not a queue id (16 lowercase letters and digits, as in "queued as …")`);
    q.id = id;
  }
  if (args.message_id !== undefined) {
    const why = text('message_id', args.message_id, 998);
    if (why) return bad('message_id', why);
    q.message_id = args.message_id.trim();
  }
  if (args.subject !== undefined) {
    const why = text('subject', args.subject, 200);
    if (why) return bad('subject', why);
    q.subject = args.subject.trim();
  }
  if (args.status !== undefined) {
    const r = parseStatuses(args.status);
    if (!r.ok) return bad('status', r.error);
    q.status = r.value;
  }
  for (const name of ['since', 'until'] as const) {
    const v = args[name];
    if (v === undefined) continue;
    if (v.length > 64) return bad(name, 'is longer than 64 characters');
    const r = parseWhen(v, now);
    if (!r.ok) return bad(name, r.error);
    q[name] = r.value;
  }
  if (q.since !== undefined && q.until !== undefined && q.since >= q.until) return bad('since', `is not before ${flag('until')} (nothing can match)`);
  if (args.limit !== undefined) {
    const l = args.limit.trim();
    if (!/^[0-9]{1,4}$/.test(l) || Number(l) < 1 || Number(l) > MAX_LIMIT) return bad('limit', `"${short(l)}" is not a number from 1 to ${MAX_LIMIT}`);
    q.limit = Number(l);
  }
  if (args.cursor !== undefined) {
    const c = args.cursor.trim();
    // Opaque to us (the store made it); only its size and alphabet are checked here, the store refuses one it did not make.
    if (c === '' || c.length > 512 || !/^[A-Za-z0-9._~:=+/-]+$/.test(c)) return bad('cursor', 'is not a cursor of a previous page (give the page\'s "next" as it is)');
    q.cursor = c;
  }
  return { ok: true, value: q };
}

function short(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
