// POST /api/content/test: the content rules on an uploaded message (the raw
// .eml as the body), answered with the report of `mailwarden content test
// --json` (src/content/report.ts) under the active settings. Any role may
// ask (nothing changes). The body is read as a stream, never held whole,
// and bounded by limits.max_message_size (the largest message the relay
// would take); at most MAX_RUNNING tests run at a time.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Readable } from 'node:stream';
import { evaluateMessage } from '../content/evaluate.ts';
import { ExpressionTimeout } from '../content/expression-match.ts';
import { contentReport } from '../content/report.ts';
import { HttpError, type ApiDeps } from './server.ts';

const MAX_RUNNING = 4;

class TooLarge extends Error {}

/** The request body's chunks, refused past `max` octets. */
async function* bounded(body: Readable, max: number): AsyncIterable<Buffer> {
  let n = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) {
      throw new TooLarge(`the message is larger than limits.max_message_size (${max} octets)`);
    }
    yield chunk;
  }
}

export function registerContentRoutes(api: FastifyInstance, deps: Pick<ApiDeps, 'snapshot'>): void {
  let running = 0;
  void api.register(async (scope) => {
    // The message as it is: no parsing by type, the stream goes to the walk.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    scope.post(
      '/api/content/test',
      {
        schema: {
          tags: ['content'],
          description: 'body: the raw message (.eml, any content type); ?direction=inbound|relayed (default inbound). Answers as `mailwarden content test --json`.',
          querystring: Type.Object({ direction: Type.Optional(Type.Union([Type.Literal('inbound'), Type.Literal('relayed')])) }, { additionalProperties: false }),
        },
      },
      async (req, reply) => {
        const snap = deps.snapshot();
        const max = snap.settings.limits.max_message_size;
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > max) throw new HttpError(413, `the message is larger than limits.max_message_size (${max} octets)`);
        const body = req.body as Readable | undefined;
        if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function') throw new HttpError(400, 'body: the raw message (.eml)');
        if (running >= MAX_RUNNING) return reply.code(503).header('retry-after', '1').send({ statusCode: 503, error: 'Service Unavailable', message: `at most ${MAX_RUNNING} content tests run at a time; try again in a moment` });
        running++;
        try {
          const relayed = (req.query as { direction?: string }).direction === 'relayed';
          const content = snap.settings.content;
          const e = await evaluateMessage(content, bounded(body, max), { relayed, always: true, ...(declared > 0 ? { knownSize: declared } : {}) });
          return { ...contentReport(e!, relayed), enabled: content.enabled, revision: snap.revision };
        } catch (err) {
          // The rest of the upload is not read: the connection closes after the answer.
          if (err instanceof TooLarge) {
            reply.header('connection', 'close');
            throw new HttpError(413, err.message);
          }
          // An expression that ran past its bound: what the daemon answers such a message (451), said plainly.
          if (err instanceof ExpressionTimeout) throw new HttpError(422, `${err.message}: the daemon would answer this message 451 4.7.1 (content.expression_timeout)`);
          throw err;
        } finally {
          running--;
        }
      },
    );
  });
}
