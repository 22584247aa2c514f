// GET /metrics on the admin listener: the same Prometheus exposition as the
// metrics listener (src/metrics), behind the admin API's authentication: an
// API token (Authorization: Bearer, any role) or a logged-in admin's session.
// The onRequest hook of server.ts refuses everything else with 401. Not under
// /api: Prometheus's default metrics_path is /metrics.

import type { FastifyInstance } from 'fastify';
import type { Exposition } from '../metrics/http-listener.ts';

export function registerMetricsRoutes(api: FastifyInstance, expose: Exposition | undefined): void {
  api.get('/metrics', { schema: { tags: ['metrics'], hide: true } }, async (_req, reply) => {
    if (!expose) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'metrics are not collected by this process' });
    const { contentType, body } = await expose();
    return reply.code(200).header('content-type', contentType).header('cache-control', 'no-store').send(body);
  });
}
