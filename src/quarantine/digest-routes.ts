// POST /api/quarantine/digest (admin role: the API's hook refuses viewers):
// sends the digest now, to every local recipient with quarantined mail or to
// one (`to`); `dry_run` composes and counts without queueing. Answers
// { sent: [{to, entries, id?}], skipped }.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { HttpError } from '../api/server.ts';
import type { DigestRun } from './digest-sender.ts';

export interface DigestRouteDeps {
  run(opts: { to?: string; dryRun?: boolean }): Promise<DigestRun>;
  /** Why no digest can be sent now (settings), or null. */
  problem(): string | null;
}

export function registerDigestRoutes(api: FastifyInstance, deps: DigestRouteDeps): void {
  api.post(
    '/api/quarantine/digest',
    {
      schema: {
        tags: ['quarantine'],
        body: Type.Optional(Type.Object({ to: Type.Optional(Type.String({ minLength: 3, maxLength: 254 })), dry_run: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
      },
    },
    async (req) => {
      const problem = deps.problem();
      if (problem) throw new HttpError(409, problem);
      const b = (req.body ?? {}) as { to?: string; dry_run?: boolean };
      const run = await deps.run({ ...(b.to !== undefined ? { to: b.to } : {}), dryRun: b.dry_run === true });
      if (b.to !== undefined && run.sent.length === 0) throw new HttpError(404, `${b.to} is not a local recipient with quarantined mail`);
      return run;
    },
  );
}
