// The tracking search and timeline as text for a terminal (`mailwarden
// track`): a table of entries (time, queue id, status, sender, recipient,
// client, rule, reply) and a timeline of events with their fields. Pure:
// what to print, from what the store answered. Every recorded value is
// shown escaped (terminalSafe): a Message-ID, Subject, HELO or address is
// the sender's text, and raw ESC/BEL/C1 controls or bidi overrides in it
// would drive the administrator's terminal (clear it, retitle it, reorder
// what a line seems to say).

import type { TrackEntry, TrackEvent, TrackTimeline } from './tracking-store.ts';

/** Longest reply shown in a table cell; --json has all of it. */
const REPLY_MAX = 72;

/**
 * What a terminal would act on rather than print: C0 controls (newline and
 * tab too: a value is one cell, one line), DEL and C1, and the bidi
 * marks, embeddings, overrides and isolates.
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A value as a terminal may print it: each unsafe character as \xNN or \uNNNN. */
export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Local time to the second: 2026-06-15 10:30:01. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** `<>` for the null sender, `-` for none (refused before MAIL or RCPT). */
export function shownAddress(a: string | null): string {
  return a === null ? '-' : a === '' ? '<>' : a;
}

/** The last reply, with its code, on one line and bounded. */
export function shownReply(e: Pick<TrackEntry, 'code' | 'reply'>, max = REPLY_MAX): string {
  const reply = (e.reply ?? '').replace(/\s+/g, ' ').trim();
  const code = e.code === null ? '' : String(e.code);
  // "550 5.7.1 …" already starts with its code.
  const text = code === '' || reply.startsWith(code) ? reply : `${code} ${reply}`.trim();
  if (text === '') return '-';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd() + '\n';
  return line(head) + rows.map(line).join('');
}

/** The entries of a page, newest first, as a table. */
export function formatEntries(entries: readonly TrackEntry[]): string {
  const head = ['TIME', 'QUEUE ID', 'STATUS', 'SENDER', 'RECIPIENT', 'CLIENT', 'RULE', 'REPLY'];
  const rows = entries.map((e) => [localTime(e.at), e.queue_id ?? '-', e.status, shownAddress(e.sender), shownAddress(e.recipient), e.client ?? '-', e.rule ?? '-', shownReply(e)].map(terminalSafe));
  return table(head, rows);
}

/** One field of a log line as key=value (text with a space or a quote in JSON quotes), like the Live Log shows it. */
function field(k: string, v: unknown): string {
  if (typeof v === 'string') return `${k}=${v === '' || /[\s"=]/.test(v) ? JSON.stringify(v) : v}`;
  return `${k}=${JSON.stringify(v)}`;
}

/** An event's fields, without those the timeline's heading already says (the connection and queue ids). */
export function eventFields(ev: TrackEvent): string {
  return terminalSafe(
    Object.entries(ev.fields)
      .filter(([k, v]) => v !== undefined && v !== null && k !== 'cid' && !(k === 'id' && v === ev.queue_id))
      .map(([k, v]) => field(k, v))
      .join(' '),
  );
}

/** A message's (or refused transaction's) entries, then its events in time order. */
export function formatTimeline(id: string, t: TrackTimeline): string {
  const first = t.entries[0];
  const what = first?.queue_id ? `message ${first.queue_id}` : `transaction ${id}`;
  const from = first && first.sender !== null ? ` from ${shownAddress(first.sender)}` : '';
  const client = first?.client ? `, client ${first.client}` : '';
  const cid = first?.cid ? ` (connection ${first.cid})` : '';
  const omitted = t.truncated ? `, ${t.omitted} more left out` : '';
  let out = `${terminalSafe(`${what}${from}${client}${cid}`)}: ${t.entries.length} recipient${t.entries.length === 1 ? '' : 's'}, ${t.events.length} event${t.events.length === 1 ? '' : 's'}${omitted}\n\n`;
  out += formatEntries(t.entries);
  out += '\nEVENTS\n';
  // Where the cut falls is not marked line by line: the first rcpt events and the first and last of the others are kept.
  if (t.truncated) out += `(${t.omitted} of ${t.events.length + t.omitted} events left out: shown are the first RCPTs and the first and last of the others; --json has no more)\n`;
  const names = t.events.map((e) => terminalSafe(e.event));
  const width = Math.max(0, ...names.map((n) => n.length));
  for (const [i, ev] of t.events.entries()) {
    const d = new Date(ev.at);
    out += `${localTime(ev.at)}.${String(d.getMilliseconds()).padStart(3, '0')}  ${(names[i] ?? '').padEnd(width)}  ${eventFields(ev)}`.trimEnd() + '\n';
  }
  if (t.events.length === 0) out += '(no event recorded)\n';
  return out;
}
