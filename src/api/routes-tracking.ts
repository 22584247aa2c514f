// Message tracking over HTTP (viewer role, as the queue: both show senders
// and recipients): GET /api/tracking searches the recorded entries (the
// same words as `mailwarden track`, read by src/tracking/search-args.ts),
// GET /api/tracking/:id answers one message's or transaction's timeline, and
// GET /api/stats/top the dashboard's top refusal reasons and senders of the
// last hour and day. A tracking store that is off or does not answer is a
// 503 that says which; the rest of the API and the dashboard go on.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { isUnreachable } from '../store/pg/errors.ts';
import { trackQueryFrom, type SearchArgs } from '../tracking/search-args.ts';
import { TrackQueryError } from '../tracking/track-query.ts';
import type { TopRow } from '../tracking/tracking-reader.ts';
import type { TrackingStore } from '../tracking/tracking-store.ts';
import type { TrackingAccess } from '../tracking/tracking-access.ts';
import { HttpError, type ApiDeps } from './server.ts';

const Strict = { additionalProperties: false } as const;
const Word = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const SearchQuery = Type.Object(
  {
    from: Word(330),
    to: Word(330),
    client: Word(64),
    id: Word(64),
    message_id: Word(1000),
    subject: Word(200),
    // Comma-separated, or the parameter repeated (?status=deferred&status=bounced).
    status: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Array(Type.String({ maxLength: 200 }), { maxItems: 16 })])),
    since: Word(64),
    until: Word(64),
    limit: Word(8),
    cursor: Word(512),
  },
  Strict,
);
// A queue id, or an entry key (QUEUEID:n, CID:t:n).
const TimelineId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9:._-]*$' }) }, Strict);

/** Rows per top list on the dashboard. */
const TOP_N = 10;
/** The dashboard asks every 10 s per open page: the answer is shared for this long. */
const TOP_CACHE_MS = 5_000;

export interface TopPeriod {
  since: string;
  refusals: TopRow[];
  senders: TopRow[];
}

export interface TopAnswer {
  /** on: the lists are the store's; off: tracking.enabled is false; unavailable: the store did not answer (`message` says why). */
  tracking: 'on' | 'off' | 'unavailable';
  message: string | null;
  hour: TopPeriod | null;
  day: TopPeriod | null;
}

export function registerTrackingRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const access = (): TrackingAccess => deps.tracking?.() ?? { off: 'message tracking is not available on this node' };
  /** The store with what this node holds written, or a 503 that says why there is none. */
  const store = async (): Promise<TrackingStore> => {
    const a = access();
    if ('off' in a) throw new HttpError(503, a.off);
    // A write that fails is the recorder's to report (a log line): the search answers with what is stored.
    await a.flush?.().catch(() => {});
    return a.store;
  };
  /** A store call whose failure is a 503 naming the tracking store (the cluster store's own 503 when PostgreSQL is away). */
  const asking = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof HttpError || isUnreachable(err)) throw err;
      const e = err as Error;
      // A cursor no search gave (mistyped, cut short): the store's words, as a 400 naming the parameter.
      if (err instanceof TrackQueryError) throw new HttpError(400, /^cursor|^the cursor/.test(e.message) ? `cursor: ${e.message}` : e.message);
      deps.logger.log('api.error', { route: what, error: e.message ?? String(err) });
      throw new HttpError(503, `the tracking store did not answer: ${e.message ?? String(err)}`);
    }
  };

  api.get('/api/tracking', { schema: { tags: ['tracking'], querystring: SearchQuery } }, async (req) => {
    const parsed = trackQueryFrom(req.query as SearchArgs, Date.now());
    if (!parsed.ok) throw new HttpError(400, parsed.error);
    const s = await store();
    return asking('tracking.search', () => s.search(parsed.value));
  });

  api.get('/api/tracking/:id', { schema: { tags: ['tracking'], params: TimelineId } }, async (req) => {
    const id = (req.params as { id: string }).id;
    const s = await store();
    const t = await asking('tracking.timeline', () => s.timeline(id));
    if (!t) throw new HttpError(404, `nothing is recorded for ${id} (an unknown queue id or entry key, or one older than tracking.retention)`);
    return t;
  });

  let cached: { at: number; answer: Promise<TopAnswer> } | null = null;
  api.get('/api/stats/top', { schema: { tags: ['dashboard'] } }, async (): Promise<TopAnswer> => {
    const now = Date.now();
    const a = access();
    // Switched off, it says so at once; on, the lists of the last few seconds are shared.
    if ('off' in a) return { tracking: 'off', message: a.off, hour: null, day: null };
    if (cached && now - cached.at < TOP_CACHE_MS) return cached.answer;
    const answer = tops(a, now);
    cached = { at: now, answer };
    const got = await answer;
    // A failure is not kept: the next look asks again.
    if (got.tracking === 'unavailable') cached = null;
    return got;
  });

  async function tops(a: Extract<TrackingAccess, { store: unknown }>, now: number): Promise<TopAnswer> {
    await a.flush?.().catch(() => {});
    const period = async (ms: number): Promise<TopPeriod> => {
      const since = now - ms;
      const [refusals, senders] = await Promise.all([a.store.top('refusal', since, TOP_N), a.store.top('sender', since, TOP_N)]);
      return { since: new Date(since).toISOString(), refusals, senders };
    };
    try {
      const [hour, day] = await Promise.all([period(3_600_000), period(86_400_000)]);
      return { tracking: 'on', message: null, hour, day };
    } catch (err) {
      const why = (err as Error).message ?? String(err);
      deps.logger.log('api.error', { route: 'stats.top', error: why });
      return { tracking: 'unavailable', message: `the tracking store did not answer: ${why}`, hour: null, day: null };
    }
  }
}
