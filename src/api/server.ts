// The admin listener: fastify 5 over HTTPS (the SMTP listeners' certificate)
// serving the REST API under /api and the web UI's static files. Strict
// input: Ajv neither strips unknown fields nor coerces types, so a misspelt
// field is a 400, not a silent no-op. Every route but login (and the OpenAPI
// document) needs a session or a token; changes need the admin role, and a
// session's changes the CSRF token.

import { isUnreachable } from '../store/pg/errors.ts';
import { registerClusterRoutes, type StoreState } from './routes-cluster.ts';
import type { ClusterStatus } from '../cluster/cluster-status.ts';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AccountStore } from '../admin/account-store.ts';
import type { Directories } from '../directory/directories.ts';
import type { ConfigService } from '../admin/config-service.ts';
import { ServiceError } from '../admin/config-service.ts';
import { CheckerBusy, WorkerChecker } from '../admin/checker.ts';
import { ConcurrentApplyError } from '../store/config-store.ts';
import { WorkLimiter, WorkLimitExceeded } from './work-limit.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { TapLogger } from '../log/logger.ts';
import type { QueueManager } from '../queue/manager.ts';
import type { Quarantine } from '../queue/quarantine.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { csrfMatches, LoginThrottle, SESSION_COOKIE, Sessions, type Principal } from './auth.ts';
import { registerAdminRoutes } from './routes-admins.ts';
import { registerDirectoryRoutes } from './routes-directories.ts';
import { registerDkimRoutes } from './routes-dkim.ts';
import { registerMailRoutes } from './routes-mail.ts';
import { registerDeliveryRoutes } from './routes-delivery.ts';
import { registerSettingsRoutes } from './routes-settings.ts';
import { registerSystemRoutes } from './routes-system.ts';
import { registerUi } from './ui.ts';
import { registerLimitsRoutes, type RateDeps } from './routes-limits.ts';
import { registerTrackingRoutes } from './routes-tracking.ts';
import type { TrackingAccess } from '../tracking/tracking-access.ts';
import type { Stats } from './stats.ts';
import { registerPreviewRoutes } from './routes-preview.ts';
import { registerMetricsRoutes } from './routes-metrics.ts';
import { registerContentRoutes } from './routes-content.ts';
import type { Exposition } from '../metrics/http-listener.ts';
import { LINK_PATH, registerLinkRoutes, type LinkRouteDeps } from '../quarantine/link-routes.ts';
import { registerDigestRoutes, type DigestRouteDeps } from '../quarantine/digest-routes.ts';
import { PORTAL_COOKIE, registerPortalRoutes, type PortalDeps } from './routes-portal.ts';

export interface ApiDeps {
  service: ConfigService;
  admins: AccountStore;
  manager: QueueManager;
  quarantine: Quarantine;
  queue: QueueStore;
  logger: TapLogger;
  stats: Stats;
  snapshot: () => Snapshot;
  tls: { key: Buffer; cert: Buffer };
  /** Which store, and whether it answers (the dashboard says so when not). */
  storeState: () => StoreState;
  /** The nodes of the store (GET /api/cluster). */
  cluster: () => Promise<ClusterStatus>;
  /** The data directory: an uploaded TLS certificate is stored under tls/uploaded/ (PUT /api/tls). */
  dataDir?: string;
  /** The daemon's directories, for explain with a directory user's name. */
  directories?: Directories;
  /** The rate limits' counters (GET /api/limits/rate); absent: none listed. */
  rate?: RateDeps;
  /** Message tracking (GET /api/tracking, the dashboard's top lists): the store, or why there is none; absent: none. */
  tracking?: () => TrackingAccess;
  /** The Prometheus exposition (GET /metrics, with a token or session); absent: 404. */
  metrics?: Exposition;
  /** The quarantine digest's signed links (GET/POST /quarantine/link, no login; issue 21); absent: 404. */
  quarantineLinks?: LinkRouteDeps;
  /** Sending the digest now (POST /api/quarantine/digest); absent: 404. */
  digest?: DigestRouteDeps;
  /** The user portal (routes-portal.ts): its store and the recipients' quarantine; absent: no portal routes. */
  portal?: PortalDeps;
}

export type Api = FastifyInstance & { withTypeProvider: unknown };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

// The digest's link pages carry their own authority: a signed token (src/quarantine/link-routes.ts).
const PUBLIC = new Set(['/api/login', '/api/openapi.json', LINK_PATH]);
/** POSTs about the caller's own account: a viewer may change its own password. */
const OWN = new Set(['/api/me/password']);
/** POSTs that only ask (a viewer may): they change nothing. */
const ASKING = new Set(['/api/policy/explain', '/api/policy/open-relay-test', '/api/settings/validate', '/api/settings/diff', '/api/settings/preview', '/api/logout', '/api/dkim/check', '/api/content/test']);

export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function buildApi(deps: ApiDeps): FastifyInstance {
  const sessions = new Sessions(deps.admins);
  const throttle = new LoginThrottle();
  const app = Fastify({
    https: { key: deps.tls.key, cert: deps.tls.cert },
    logger: false,
    // The settings document's routes take up to DOCUMENT_BODY_LIMIT; nothing else needs more than this.
    bodyLimit: 256 * 1024,
    // Live-log readers never end their responses: a stop must not wait for them.
    forceCloseConnections: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  void app.register(cookie);
  void app.register(swagger, {
    openapi: {
      info: { title: 'mailwarden admin API', version: '1' },
      components: { securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE }, token: { type: 'http', scheme: 'bearer' }, portal: { type: 'apiKey', in: 'cookie', name: PORTAL_COOKIE } } },
      security: [{ session: [] }, { token: [] }],
    },
  });

  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    // Decide by the route that matched, never by the raw URL: "/%61pi/settings"
    // is routed to /api/settings too. Only the UI's static files and the public
    // API routes go without a session or token; an unknown path under /api is
    // a 401 before it is a 404.
    const route = req.routeOptions.url;
    if (route === '/*' && !decodedPath(req.url).startsWith('/api/')) return;
    const path = route ?? decodedPath(req.url);
    if (PUBLIC.has(path)) return;
    // The user portal's routes have their own sessions (routes-portal.ts): no admin session or token opens them.
    if (route?.startsWith('/api/portal/')) return;
    const auth = req.headers.authorization;
    let p: Principal | null = null;
    if (auth?.startsWith('Bearer ')) {
      const t = await deps.admins.checkToken(auth.slice(7).trim());
      if (t) p = { author: `token:${t.name} (${t.owner})`, name: t.owner, role: t.role, via: 'token', csrf: null, sessionId: null };
    } else {
      const sid = req.cookies[SESSION_COOKIE];
      if (sid) p = await sessions.get(sid);
    }
    // The account as it is now: removed, demoted or given a new password (on the CLI too) counts at once.
    const account = p ? await deps.admins.current(p.name) : null;
    if (!p || !account || (p.via === 'session' && p.stamp !== account.stamp)) {
      if (p?.sessionId) await sessions.delete(p.sessionId);
      return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'log in or give an API token' });
    }
    if (account.role === 'viewer') p.role = 'viewer';
    req.principal = p;
    if (req.method === 'GET' || req.method === 'HEAD') return;
    if (p.role !== 'admin' && !(req.method === 'POST' && (ASKING.has(path) || OWN.has(path)))) return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'a viewer cannot change anything' });
    // Cookies ride along with cross-site requests; the CSRF token does not.
    if (p.via === 'session' && !csrfMatches(p.csrf ?? '', headerOf(req, 'x-csrf-token'))) {
      return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'missing or wrong X-CSRF-Token' });
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).send({ statusCode: err.status, error: err.name, message: err.message });
    if (err instanceof ServiceError) {
      // "no user named …", "no revision 9": an unknown object, as the docs say; "… already exists": a conflict.
      const status = /^no /.test(err.message) ? 404 : / already exists$/.test(err.message) ? 409 : 422;
      return reply.code(status).send({ statusCode: status, error: status === 404 ? 'Not Found' : status === 409 ? 'Conflict' : 'Refused', message: err.message, errors: err.details });
    }
    // Someone else's change landed first: reload and apply again.
    if (err instanceof ConcurrentApplyError) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: err.message });
    if (err instanceof WorkLimitExceeded || err instanceof CheckerBusy) {
      const status = err instanceof WorkLimitExceeded ? 429 : 503;
      return reply.code(status).header('retry-after', '1').send({ statusCode: status, error: status === 429 ? 'Too Many Requests' : 'Service Unavailable', message: err.message });
    }
    // Sessions, tokens and most data live in the store: while a cluster store is away nothing can be checked, so nothing is
    // answered (fail closed), but the web admin says why instead of "internal error".
    if (deps.storeState().kind === 'postgresql' && isUnreachable(err)) {
      // Unreachable, whatever the queue's last view says: this very call just failed to reach it.
      return reply.code(503).header('retry-after', '5').send({ statusCode: 503, error: 'Service Unavailable', message: 'the cluster store (PostgreSQL) cannot be reached; this node reconnects by itself when it is back', store: { ...deps.storeState(), reachable: false } });
    }
    if (err.validation) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: validationMessage(err), errors: validationList(err) });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) deps.logger.log('api.error', { error: err.message });
    return reply.code(status).send({ statusCode: status, error: status === 500 ? 'Internal Server Error' : 'Bad Request', message: status === 500 ? 'internal error' : err.message });
  });

  // Validation and diffs of what admins send run in a worker thread: the SMTP listeners share this event loop.
  const checker = new WorkerChecker();
  const service = deps.service.withChecker(checker);
  app.addHook('onClose', async () => checker.close());

  void app.register(async (api) => {
    api.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    registerAdminRoutes(api, deps, sessions, throttle);
    registerSettingsRoutes(api, { ...deps, service }, new WorkLimiter());
    registerMailRoutes(api, deps);
    // TLS policy (issue 19): the MTA-STS look-up.
    registerDeliveryRoutes(api, deps);
    registerClusterRoutes(api, deps);
    registerSystemRoutes(api, { ...deps, service }, sessions, throttle);
    registerDirectoryRoutes(api, { ...deps, service }, new WorkLimiter());
    registerDkimRoutes(api, { ...deps, service }, new WorkLimiter());
    registerLimitsRoutes(api, deps);
    registerTrackingRoutes(api, deps);
    registerPreviewRoutes(api, { ...deps, service }, new WorkLimiter(1));
    registerMetricsRoutes(api, deps.metrics);
    registerContentRoutes(api, deps);
    if (deps.digest) registerDigestRoutes(api, deps.digest);
  });
  if (deps.quarantineLinks) registerLinkRoutes(app, deps.quarantineLinks);
  if (deps.portal) registerPortalRoutes(app, deps, deps.portal);
  registerUi(app);
  return app;
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  params?: { additionalProperty?: string; missingProperty?: string };
}

/** Ajv's findings as "path: reason", naming the unknown or missing field. */
function validationList(err: Error & { validation?: unknown; validationContext?: string }): string[] {
  const list = Array.isArray(err.validation) ? (err.validation as AjvIssue[]) : [];
  return list.map((v) => {
    const base = `${err.validationContext ?? 'body'}${(v.instancePath ?? '').replace(/\//g, '.')}`;
    if (v.params?.additionalProperty) return `${base}.${v.params.additionalProperty}: unknown field`;
    if (v.params?.missingProperty) return `${base}.${v.params.missingProperty}: is required`;
    return `${base}: ${v.message ?? 'invalid'}`;
  });
}

function validationMessage(err: Error & { validation?: unknown; validationContext?: string }): string {
  const list = validationList(err);
  return list.length ? list.join('; ') : err.message;
}

/** The path of a URL, percent-decoded (a malformed escape is kept as it is). */
function decodedPath(url: string): string {
  const p = url.split('?')[0] ?? '';
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function headerOf(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The principal of a request that passed the hook. */
export function who(req: FastifyRequest): Principal {
  if (!req.principal) throw new HttpError(401, 'not logged in');
  return req.principal;
}
