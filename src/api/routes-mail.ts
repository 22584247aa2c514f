// The Mail Manager over HTTP (queue and quarantine, the same operations as
// the CLI, on the daemon's own queue manager), policy explain and the
// open-relay test, the dashboard statistics, and the live log as
// server-sent events.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { domainKey } from '../address/path.ts';
import { recipientDomain } from '../delivery/routes.ts';
import { perform, type ControlOp } from '../queue/control.ts';
import { QUEUE_STATES, stateOf, type Envelope } from '../queue/envelope.ts';
import { DirectoryUnanswered, ExplainInputError, explainWithDirectories, openRelayTest } from '../checks/explain.ts';
import { HttpError, who, type ApiDeps } from './server.ts';
import { openRelayReasons } from '../config/open-relay.ts';

const Strict = { additionalProperties: false } as const;
const Id = Type.Object({ id: Type.String({ pattern: '^[0-9a-z]{16}$' }) }, Strict);
const STATES = QUEUE_STATES;

/** Seconds since the oldest message still waiting for delivery arrived (held ones wait for an admin on purpose); null when none waits. */
export function oldestAge(envs: readonly Envelope[], now: number): number | null {
  let oldest = Infinity;
  for (const e of envs) {
    const at = Date.parse(e.received_at);
    if (!e.held && Number.isFinite(at) && at < oldest) oldest = at;
  }
  return oldest === Infinity ? null : Math.max(0, Math.floor((now - oldest) / 1000));
}

export function registerMailRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const { queue, quarantine, manager } = deps;
  const run = async (req: Parameters<typeof who>[0], op: ControlOp, id: string | null) => {
    const answer = await perform(manager, quarantine, { op, id, by: who(req).author });
    deps.logger.log(op.startsWith('quarantine-') ? 'quarantine.admin' : 'queue.admin', { op, id, by: who(req).author, ok: answer.ok, error: answer.ok ? undefined : answer.error });
    if (!answer.ok) throw new HttpError(/^no message/.test(answer.error) ? 404 : 409, answer.error);
    return answer;
  };

  // --- queue -------------------------------------------------------------------
  api.get(
    '/api/queue',
    { schema: { tags: ['queue'], querystring: Type.Object({ state: Type.Optional(Type.Union(STATES.map((s) => Type.Literal(s)))), to: Type.Optional(Type.String({ maxLength: 255 })) }, Strict) } },
    async (req) => {
      const q = req.query as { state?: string; to?: string };
      const to = q.to === undefined ? null : domainKey(q.to);
      return (await queue.list())
        .map((e) => ({ ...e, state: stateOf(e) }))
        .filter((e) => (q.state === undefined || e.state === q.state) && (to === null || e.recipients.some((r) => recipientDomain(r.address) === to)));
    },
  );
  api.get('/api/queue/:id', { schema: { tags: ['queue'], params: Id } }, async (req) => {
    const m = await queue.read((req.params as { id: string }).id);
    if (!m) throw new HttpError(404, 'no such message in the queue');
    return { ...m, state: stateOf(m) };
  });
  api.get('/api/queue/:id/message', { schema: { tags: ['queue'], params: Id } }, async (req, reply) => {
    const m = await queue.body((req.params as { id: string }).id);
    if (!m) throw new HttpError(404, 'no such message in the queue');
    return reply.type('message/rfc822').header('content-length', m.size).send(m.stream());
  });
  api.post('/api/queue/retry', { schema: { tags: ['queue'] } }, async (req) => run(req, 'retry', null));
  for (const op of ['retry', 'hold', 'release', 'bounce'] as const) {
    api.post(`/api/queue/:id/${op}`, { schema: { tags: ['queue'], params: Id } }, async (req) => run(req, op, (req.params as { id: string }).id));
  }
  api.delete('/api/queue/:id', { schema: { tags: ['queue'], params: Id } }, async (req) => run(req, 'delete', (req.params as { id: string }).id));

  // --- quarantine ----------------------------------------------------------------
  api.get('/api/quarantine', { schema: { tags: ['quarantine'] } }, async () => quarantine.list());
  api.get('/api/quarantine/:id', { schema: { tags: ['quarantine'], params: Id } }, async (req) => {
    const m = await quarantine.read((req.params as { id: string }).id);
    if (!m) throw new HttpError(404, 'no such message in quarantine');
    return m;
  });
  api.get('/api/quarantine/:id/message', { schema: { tags: ['quarantine'], params: Id } }, async (req, reply) => {
    const m = await quarantine.body((req.params as { id: string }).id);
    if (!m) throw new HttpError(404, 'no such message in quarantine');
    return reply.type('message/rfc822').header('content-length', m.size).send(m.stream());
  });
  api.post('/api/quarantine/:id/release', { schema: { tags: ['quarantine'], params: Id } }, async (req) => run(req, 'quarantine-release', (req.params as { id: string }).id));
  api.delete('/api/quarantine/:id', { schema: { tags: ['quarantine'], params: Id } }, async (req) => run(req, 'quarantine-delete', (req.params as { id: string }).id));

  // --- policy ----------------------------------------------------------------------
  const guard = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ExplainInputError) throw new HttpError(400, err.message);
      throw err;
    }
  };
  api.post(
    '/api/policy/explain',
    {
      schema: {
        tags: ['policy'],
        body: Type.Object(
          { client: Type.String({ maxLength: 64 }), user: Type.Optional(Type.String({ maxLength: 128 })), listener: Type.Optional(Type.String({ maxLength: 64 })), from: Type.Optional(Type.String({ maxLength: 600 })), to: Type.String({ maxLength: 600 }) },
          Strict,
        ),
      },
    },
    async (req) => {
      const b = req.body as { client: string; user?: string; listener?: string; from?: string; to: string };
      // A name that is no local user is looked up in the directories, as AUTH would.
      const x = await explainWithDirectories(deps.snapshot(), { client: b.client, user: b.user ?? null, listener: b.listener ?? null, from: b.from ?? '<>', to: b.to }, deps.directories ?? null).catch((err: unknown) => {
        if (err instanceof ExplainInputError) throw new HttpError(400, err.message);
        if (err instanceof DirectoryUnanswered) throw new HttpError(503, err.message);
        throw err;
      });
      const d = x.decision;
      return { action: d.action, code: d.code, enhanced: d.enhanced, text: d.text, kind: d.kind, stage: d.stage, rule: d.rule, trail: d.trail, listener: x.listener, relay_right: x.relayRight, scanned: x.scanned, proxy: x.proxy };
    },
  );
  api.post(
    '/api/policy/open-relay-test',
    { schema: { tags: ['policy'], body: Type.Object({ client: Type.String({ maxLength: 64 }), user: Type.Optional(Type.String({ maxLength: 128 })), domain: Type.Optional(Type.String({ maxLength: 255 })) }, Strict) } },
    async (req) => {
      const b = req.body as { client: string; user?: string; domain?: string };
      return guard(() => openRelayTest(deps.snapshot(), { client: b.client, user: b.user ?? null, domain: b.domain ?? null }));
    },
  );

  // --- dashboard -------------------------------------------------------------------
  api.get('/api/stats', { schema: { tags: ['dashboard'] } }, async () => {
    const store = deps.storeState();
    const snap = deps.snapshot();
    const openRelay = openRelayReasons(snap.settings, snap.networks);
    // While the cluster store is away the queue and the cluster's minutes cannot be read: the dashboard says so instead of failing.
    const envs = store.reachable ? await queue.list() : null;
    return {
      revision: snap.revision,
      store,
      // What rule 8 says of the active settings (the proxy path included), not merely the acknowledgement flag.
      open_relay: openRelay.length > 0,
      open_relay_reasons: openRelay,
      queue: envs === null ? null : { size: envs.length, deferred: envs.filter((e) => stateOf(e) === 'deferred').length, held: envs.filter((e) => e.held).length, quarantined: (await quarantine.list()).length, oldest_age_s: oldestAge(envs, Date.now()) },
      per_minute: store.reachable ? await deps.stats.perMinute() : [],
      top_refused: deps.stats.topRefused(),
      auth: deps.stats.auth(),
      top_auth_failed: deps.stats.topAuthFailed(),
    };
  });

  // --- live log ----------------------------------------------------------------------
  // The last lines are kept, so that a reader who connects sees what just happened.
  const BACKLOG = 200;
  const recent: string[] = [];
  const asJson = (event: string, fields: Record<string, unknown>, ts: string) => JSON.stringify({ ts, event, ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  deps.logger.subscribe((event, fields, ts) => {
    recent.push(asJson(event, fields, ts));
    if (recent.length > BACKLOG) recent.shift();
  });
  api.get('/api/log', { schema: { tags: ['log'] } }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': mailwarden live log\n\n');
    for (const line of recent) res.write(`event: log\ndata: ${line}\n\n`);
    let dropped = false;
    const unsubscribe = deps.logger.subscribe((event, fields, ts) => {
      if (dropped) return;
      // A reader that does not keep up is dropped rather than buffered without bound.
      if (res.writableLength > 1024 * 1024) {
        dropped = true;
        res.end();
        return;
      }
      res.write(`event: log\ndata: ${asJson(event, fields, ts)}\n\n`);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => {
      clearInterval(ping);
      unsubscribe();
    });
  });
}
