// POST /api/settings/preview: the impact preview of a settings change before
// it is applied — the recorded RCPT decisions of the last `days` days
// replayed under the active revision and under the candidate
// (src/preview/), answered with what would now be refused, accepted or
// relayed, by client. The candidate is a whole document ({document}, as
// PUT /api/settings) or one section of the active one ({section, value}, as
// PUT /api/settings/:section), validated in the checker's thread like every
// change; nothing is applied and no mail is sent. A viewer may ask. At most
// one preview per account and MAX_RUNNING in all at a time: each reads up to
// TUPLE_LIMIT decisions and replays them in slices on this event loop.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { TrackingReader } from '../tracking/tracking-reader.ts';
import { TRACKING_OFF } from '../tracking/tracking-access.ts';
import { DEFAULT_DAYS, MAX_DAYS, previewImpact, TrackingUnavailable } from '../preview/preview.ts';
import { DOCUMENT_BODY_LIMIT, SECTIONS } from './routes-settings.ts';
import { HttpError, who, type ApiDeps } from './server.ts';
import type { WorkLimiter } from './work-limit.ts';

const MAX_RUNNING = 2;

const PreviewBody = Type.Object(
  {
    document: Type.Optional(Type.Unknown()),
    section: Type.Optional(Type.Union(SECTIONS.map((s) => Type.Literal(s)))),
    value: Type.Optional(Type.Unknown()),
    comment: Type.Optional(Type.String({ maxLength: 500 })),
    revision: Type.Optional(Type.Integer({ minimum: 0 })),
    days: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DAYS })),
  },
  { additionalProperties: false },
);

interface Body {
  document?: unknown;
  section?: string;
  value?: unknown;
  revision?: number;
  days?: number;
}

export function registerPreviewRoutes(api: FastifyInstance, deps: ApiDeps, limiter: WorkLimiter): void {
  let running = 0;
  api.post('/api/settings/preview', { bodyLimit: DOCUMENT_BODY_LIMIT, schema: { tags: ['settings'], description: 'body: {document} or {section, value}, with revision?, days? (1..90, default 7)', body: PreviewBody } }, async (req, reply) => {
    const b = req.body as Body;
    const change = changeOf(b);
    // The recorded decisions come from this node's tracking store (the cluster's, on PostgreSQL).
    const access = deps.tracking?.() ?? { off: TRACKING_OFF };
    if ('off' in access) throw new HttpError(503, `${access.off}: there are no recorded decisions to replay`);
    const tracking = (): TrackingReader => access.store;
    if (running >= MAX_RUNNING) return reply.code(503).header('retry-after', '2').send({ statusCode: 503, error: 'Service Unavailable', message: `at most ${MAX_RUNNING} impact previews run at a time; try again in a moment` });
    running++;
    try {
      return await limiter.run(who(req).name, async () => {
        const c = await deps.service.candidate(change, { revision: b.revision });
        if (!c.candidate) {
          const n = c.check.errors.length;
          return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `the settings are not valid (${n} error${n === 1 ? '' : 's'}): nothing to preview`, ...c.check });
        }
        try {
          return await previewImpact(c.active, c.candidate, b.days ?? DEFAULT_DAYS, { tracking, directories: deps.directories ?? null });
        } catch (err) {
          if (err instanceof TrackingUnavailable) {
            deps.logger.log('preview.error', { error: err.message });
            return reply.code(503).header('retry-after', '5').send({ statusCode: 503, error: 'Service Unavailable', message: err.message });
          }
          throw err;
        }
      });
    } finally {
      running--;
    }
  });
}

function changeOf(b: Body): { document: unknown } | { section: string; value: unknown } {
  const hasDoc = 'document' in b;
  const hasSection = 'section' in b || 'value' in b;
  if (hasDoc && hasSection) throw new HttpError(400, 'body: give either document, or section and value, not both');
  if (hasDoc) return { document: b.document };
  if (b.section === undefined || !('value' in b)) throw new HttpError(400, 'body: give the whole settings as document, or one section as section and value');
  return { section: b.section, value: b.value };
}
