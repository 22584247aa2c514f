// The tracking search, made precise once for every store: a TrackQuery is
// checked and normalised here (addresses lower-cased, '@domain' told apart,
// the page size bounded, the keyset cursor decoded), then either tested
// against one entry (the memory store) or turned into the WHERE of an SQL
// query (SQLite and PostgreSQL, which differ only in placeholders and in how
// a case-insensitive LIKE is spelled). Pages are newest first, keyed by
// (at, key): a deep page costs what the first one does.

import { TRACK_STATUSES, type TrackEntry, type TrackQuery, type TrackStatus } from './tracking-store.ts';

/** A search that cannot be run as asked (the API answers 400 with its message). */
export class TrackQueryError extends Error {}

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;
/** Longest search text taken (an address, a Message-ID, words of a subject). */
const MAX_TEXT = 998;

export type AddressFilter = { kind: 'address'; value: string } | { kind: 'domain'; value: string };

export interface Position {
  at: number;
  key: string;
}

/** A checked query. */
export interface NormalQuery {
  from?: AddressFilter;
  to?: AddressFilter;
  client?: string;
  id?: string;
  message_id?: string;
  /** Lower-cased. */
  subject?: string;
  status?: TrackStatus[];
  since?: number;
  until?: number;
  limit: number;
  /** Entries strictly older than this position (the cursor). */
  after?: Position;
}

/** The domain of an address, lower-cased, without a trailing dot; '' when it has none (the null sender, a bare postmaster). */
export function domainOf(address: string | null): string | null {
  if (address === null) return null;
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase().replace(/\.$/, '');
}

/** A Message-ID as stored and searched: without its angle brackets and surrounding space. */
export function bareMessageId(id: string): string {
  const t = id.trim();
  return t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1).trim() : t;
}

function text(name: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new TrackQueryError(`${name} must be text`);
  const t = v.trim();
  if (t.length > MAX_TEXT) throw new TrackQueryError(`${name} is too long (at most ${MAX_TEXT} characters)`);
  return t;
}

function addressFilter(name: string, v: unknown): AddressFilter | undefined {
  const t = text(name, v);
  if (t === undefined) return undefined;
  // The null sender is written <> (or as the empty path it is).
  if (t === '<>' || t === '') return { kind: 'address', value: '' };
  const bare = t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1) : t;
  if (bare.startsWith('@')) {
    const domain = bare.slice(1).toLowerCase().replace(/\.$/, '');
    if (domain === '' || domain.includes('@')) throw new TrackQueryError(`${name}: "${t}" is neither an address nor @domain`);
    return { kind: 'domain', value: domain };
  }
  return { kind: 'address', value: bare.toLowerCase() };
}

function time(name: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TrackQueryError(`${name} must be a time (epoch ms)`);
  return Math.trunc(v);
}

export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.at, p.key]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new TrackQueryError('the cursor is not one a search gave');
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || !Number.isFinite(v[0]) || typeof v[1] !== 'string' || v[1].length > 200) {
    throw new TrackQueryError('the cursor is not one a search gave');
  }
  return { at: v[0], key: v[1] };
}

/** Checks and normalises a query; TrackQueryError says what is wrong. */
export function normalizeQuery(q: TrackQuery): NormalQuery {
  const limit = q.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new TrackQueryError(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
  const n: NormalQuery = { limit };
  const from = addressFilter('from', q.from);
  if (from) n.from = from;
  const to = addressFilter('to', q.to);
  if (to) n.to = to;
  const client = text('client', q.client);
  if (client) n.client = client.toLowerCase();
  const id = text('id', q.id);
  if (id) n.id = id.toLowerCase();
  const mid = text('message_id', q.message_id);
  if (mid) n.message_id = bareMessageId(mid);
  const subject = text('subject', q.subject);
  if (subject) n.subject = subject.toLowerCase();
  if (q.status !== undefined) {
    if (!Array.isArray(q.status)) throw new TrackQueryError('status must be a list');
    const bad = q.status.find((s) => !(TRACK_STATUSES as readonly string[]).includes(s));
    if (bad !== undefined) throw new TrackQueryError(`unknown status "${String(bad)}" (one of ${TRACK_STATUSES.join(', ')})`);
    if (q.status.length > 0) n.status = [...new Set(q.status)].sort();
  }
  const since = time('since', q.since);
  if (since !== undefined) n.since = since;
  const until = time('until', q.until);
  if (until !== undefined) n.until = until;
  if (q.cursor !== undefined && q.cursor !== null && q.cursor !== '') n.after = decodeCursor(q.cursor);
  return n;
}

function addressMatches(f: AddressFilter, address: string | null): boolean {
  if (address === null) return false;
  return f.kind === 'domain' ? domainOf(address) === f.value : address.toLowerCase() === f.value;
}

/** Newest first: (at, key) descending. */
export function newerFirst(a: Position, b: Position): number {
  return b.at - a.at || (a.key < b.key ? 1 : a.key > b.key ? -1 : 0);
}

/** Whether an entry is one the query asks for (the memory store's search; the SQL stores say the same in SQL). */
export function matches(n: NormalQuery, e: TrackEntry): boolean {
  if (n.from && !addressMatches(n.from, e.sender)) return false;
  if (n.to && !addressMatches(n.to, e.recipient)) return false;
  if (n.client !== undefined && (e.client ?? '').toLowerCase() !== n.client) return false;
  if (n.id !== undefined && e.queue_id !== n.id) return false;
  if (n.message_id !== undefined && e.message_id !== n.message_id) return false;
  if (n.subject !== undefined && !(e.subject ?? '').toLowerCase().includes(n.subject)) return false;
  if (n.status && !n.status.includes(e.status)) return false;
  if (n.since !== undefined && e.at < n.since) return false;
  if (n.until !== undefined && e.at >= n.until) return false;
  if (n.after && newerFirst(n.after, e) >= 0) return false;
  return true;
}

export type Dialect = 'sqlite' | 'postgresql';

/**
 * The conditions of the query in SQL over the track_entry table (columns as
 * src/tracking/track-rows.ts names them), joined with AND; `param` adds a
 * value and returns its placeholder. Each filter is written so that the
 * index made for it (a column, then at and key) can answer it in order.
 */
export function sqlConditions(n: NormalQuery, dialect: Dialect, param: (v: unknown) => string): string[] {
  const where: string[] = [];
  const address = (col: string, f: AddressFilter) => {
    if (f.kind === 'domain') where.push(`${col}_domain = ${param(f.value)}`);
    else where.push(`lower(${col}) = ${param(f.value)}`);
  };
  if (n.from) address('sender', n.from);
  if (n.to) address('recipient', n.to);
  if (n.client !== undefined) where.push(`client = ${param(n.client)}`);
  if (n.id !== undefined) where.push(`queue_id = ${param(n.id)}`);
  if (n.message_id !== undefined) where.push(`message_id = ${param(n.message_id)}`);
  if (n.subject !== undefined) {
    const like = `%${n.subject.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
    if (dialect === 'postgresql') where.push(`subject ILIKE ${param(like)} ESCAPE '\\'`);
    else {
      // Three characters or more: the trigram index finds the entries (a phrase of trigrams is a substring, any case).
      if ([...n.subject].length >= 3) where.push(`rowid IN (SELECT rowid FROM track_subject WHERE track_subject MATCH ${param(`"${n.subject.replace(/"/g, '""')}"`)})`);
      where.push(`subject LIKE ${param(like)} ESCAPE '\\'`);
    }
  }
  if (n.status) where.push(n.status.length === 1 ? `status = ${param(n.status[0])}` : `status IN (${n.status.map((s) => param(s)).join(', ')})`);
  if (n.since !== undefined) where.push(`at >= ${param(n.since)}`);
  if (n.until !== undefined) where.push(`at < ${param(n.until)}`);
  if (n.after) where.push(`(at, key) < (${param(n.after.at)}, ${param(n.after.key)})`);
  return where;
}

/** The page of `limit` from the rows fetched with LIMIT limit + 1 (newest first): the extra row only says there is a next page. */
export function pageOf(rows: TrackEntry[], limit: number): { entries: TrackEntry[]; next: string | null } {
  if (rows.length <= limit) return { entries: rows, next: null };
  const entries = rows.slice(0, limit);
  const last = entries[entries.length - 1]!;
  return { entries, next: encodeCursor(last) };
}
