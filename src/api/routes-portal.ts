// The user portal's API (issue 21, docs/portal.md): a local or directory
// user signs in and sees and acts on their own quarantined mail and their
// personal sender lists. Its own session, apart from the admin's: the cookie
// mw_portal (HttpOnly, Secure, SameSite=Strict, Path=/api/portal, so that the
// browser never sends it anywhere else), stored in the PortalStore (a sign-in
// is valid on every node of a cluster and ends at sign-out), a CSRF token on
// every change, and the user re-checked on each request. The admin hook
// (server.ts) leaves these routes alone and this hook reads no admin session
// or token: an admin session never opens the portal and a user session never
// reaches an admin route. A message that is not the user's is a 404, as an
// unknown id is: its existence is never revealed.

import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { clientBucket } from '../objects/client-bucket.ts';
import type { PortalStore } from '../portal/portal-store.ts';
import { PortalUsers, signIn, type PortalUser } from '../portal/portal-users.ts';
import { addressKey, unionLists, validateLists, MAX_LIST_ENTRIES, type SenderLists } from '../portal/sender-lists.ts';
import { QuarantineDenied, type RecipientQuarantine } from '../quarantine/quarantine-access.ts';
import { QUEUE_ID } from '../queue/queue-id.ts';
import { QueueError } from '../queue/queue-error.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { csrfMatches, LoginThrottle } from './auth.ts';
import { HttpError, type ApiDeps } from './server.ts';

export const PORTAL_COOKIE = 'mw_portal';
const COOKIE_PATH = '/api/portal';
/** A portal session ends after this long without a request. */
export const PORTAL_IDLE_MS = 2 * 3_600_000;

const Strict = { additionalProperties: false } as const;
/** In the OpenAPI document: the portal's own cookie, never the admin session or a token. */
const PORTAL_SECURITY = [{ portal: [] }];
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }, Strict);
const Lists = Type.Object({ allow: Type.Array(Type.String({ maxLength: 512 }), { maxItems: 2 * MAX_LIST_ENTRIES }), block: Type.Array(Type.String({ maxLength: 512 }), { maxItems: 2 * MAX_LIST_ENTRIES }) }, Strict);

export interface PortalDeps {
  store: PortalStore;
  /** The recipients' view of the quarantine (src/quarantine); null: not available in this process. */
  quarantine: RecipientQuarantine | null;
}

interface Signed {
  user: PortalUser;
  sessionId: string;
  csrf: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    portalUser: Signed | null;
  }
}

function signed(req: FastifyRequest): Signed {
  if (!req.portalUser) throw new HttpError(401, 'sign in to the portal');
  return req.portalUser;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Registers the portal's routes in their own scope (its hook applies to them only). */
export function registerPortalRoutes(app: FastifyInstance, deps: ApiDeps, portal: PortalDeps): void {
  const throttle = new LoginThrottle();
  const users = new PortalUsers(deps.directories ?? null);
  const { store } = portal;
  const log = deps.logger;

  void app.register(async (api) => {
    api.decorateRequest('portalUser', null);

    api.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const snap = deps.snapshot();
      if (!snap.settings.quarantine.portal.enabled) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'the user portal is off (quarantine.portal.enabled)' });
      if (req.routeOptions.url === '/api/portal/login') return;
      const sid = req.cookies[PORTAL_COOKIE];
      const session = sid ? await store.touchSession(sid, Date.now(), PORTAL_IDLE_MS) : null;
      // The user as the settings and the directory say now: removed, disabled or with a new password ends the session.
      const user = session ? await users.current(snap, session) : null;
      if (!session || !user) {
        if (session) await store.deleteSession(session.id);
        return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'sign in to the portal' });
      }
      req.portalUser = { user, sessionId: session.id, csrf: session.csrf };
      if (req.method === 'GET' || req.method === 'HEAD') return;
      // The cookie is SameSite=Strict already; the token also stops a request forged from a page on this very origin.
      if (!csrfMatches(session.csrf, header(req, 'x-csrf-token'))) return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'missing or wrong X-CSRF-Token' });
    });

    api.post('/api/portal/login', { schema: { tags: ['portal'], security: [], body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 256 }), password: Type.String({ maxLength: 1024 }) }, Strict) } }, async (req, reply) => {
      const snap = deps.snapshot();
      // Counted per client network for IPv6, as SMTP AUTH counts (limits.ipv6_client_prefix).
      const client = clientBucket(req.ip, snap.settings.limits.ipv6_client_prefix);
      const wait = throttle.blockedFor(client);
      if (wait > 0) {
        log.log('portal.login', { client: req.ip, ok: false, reason: 'throttled' });
        void reply.header('retry-after', String(wait));
        throw new HttpError(429, `too many failed sign-ins from ${req.ip}; try again in ${wait} s`);
      }
      const { name, password } = req.body as { name: string; password: string };
      const attempt = throttle.begin(client);
      let user: PortalUser | null;
      try {
        user = await signIn(snap, deps.directories ?? null, name, password);
      } catch (err) {
        // A directory that did not answer: not a failed sign-in, and never a success.
        throttle.succeeded(client, attempt);
        log.log('portal.login', { client: req.ip, ok: false, reason: `directory: ${(err as Error).message}` });
        throw new HttpError(503, 'the directory did not answer; try again later');
      }
      if (!user) {
        // The name is logged only when it is a local user: a password typed into the name field must not reach the log.
        log.log('portal.login', { name: snap.users.has(name) ? name : '(unknown)', client: req.ip, ok: false });
        throw new HttpError(401, 'wrong name or password');
      }
      throttle.succeeded(client, attempt);
      const id = randomBytes(32).toString('base64url');
      const csrf = randomBytes(24).toString('base64url');
      await store.createSession({ id, name: user.name, directory: user.directory, csrf, stamp: user.stamp }, Date.now(), PORTAL_IDLE_MS);
      log.log('portal.login', { name: user.name, ...(user.directory ? { directory: user.directory } : {}), client: req.ip, ok: true, addresses: user.addresses.length });
      void reply.setCookie(PORTAL_COOKIE, id, { path: COOKIE_PATH, httpOnly: true, secure: true, sameSite: 'strict' });
      return me(user, csrf);
    });

    api.post('/api/portal/logout', { schema: { tags: ['portal'], security: PORTAL_SECURITY } }, async (req, reply) => {
      const s = signed(req);
      await store.deleteSession(s.sessionId);
      log.log('portal.logout', { name: s.user.name });
      void reply.clearCookie(PORTAL_COOKIE, { path: COOKIE_PATH });
      return { ok: true };
    });

    api.get('/api/portal/me', { schema: { tags: ['portal'], security: PORTAL_SECURITY } }, async (req) => {
      const s = signed(req);
      return me(s.user, s.csrf);
    });

    api.get('/api/portal/quarantine', { schema: { tags: ['portal'], security: PORTAL_SECURITY } }, async (req) => {
      const s = signed(req);
      const q = quarantineOf(portal);
      const entries = s.user.addresses.length ? await q.listFor(s.user.addresses) : [];
      return { entries };
    });

    for (const action of ['release', 'delete'] as const) {
      api.post(`/api/portal/quarantine/:id/${action}`, { schema: { tags: ['portal'], security: PORTAL_SECURITY, params: Id } }, async (req) => {
        const s = signed(req);
        const { id } = req.params as { id: string };
        const q = quarantineOf(portal);
        // Only a message with one of the user's addresses among its recipients exists for them.
        if (!(await isTheirs(deps.queue, id, s.user.addresses))) throw new HttpError(404, `no quarantined message ${id}`);
        const by = { kind: 'user' as const, name: s.user.name };
        try {
          const r = action === 'release' ? await q.releaseFor(id, s.user.addresses, by) : await q.deleteFor(id, s.user.addresses, by);
          return { ok: true, ...r };
        } catch (err) {
          if (err instanceof QuarantineDenied) throw new HttpError(403, err.message);
          // Released or deleted between the look and the act (by another recipient's share, or an administrator).
          if (err instanceof QueueError) throw new HttpError(404, `no quarantined message ${id}`);
          throw err;
        }
      });
    }

    api.get('/api/portal/senders', { schema: { tags: ['portal'], security: PORTAL_SECURITY } }, async (req) => {
      const s = signed(req);
      return unionLists(await Promise.all(owners(s.user).map((o) => store.lists(o))));
    });

    api.put('/api/portal/senders', { schema: { tags: ['portal'], security: PORTAL_SECURITY, body: Lists } }, async (req) => {
      const s = signed(req);
      const v = validateLists(req.body as SenderLists);
      if (!v.ok) throw new ListError(v.errors);
      const mine = owners(s.user);
      if (!mine.length) throw new HttpError(422, 'you have no address of your own to keep lists for');
      // Each of the user's addresses gets the same lists.
      await store.setLists(mine, v.lists);
      log.log('sender_list.changed', { name: s.user.name, owners: mine, allow: v.lists.allow.length, block: v.lists.block.length });
      return v.lists;
    });

    api.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
      if (err instanceof ListError) return reply.code(422).send({ statusCode: 422, error: 'Refused', message: err.message, errors: err.errors });
      // Everything else as the admin API answers it (a store away: 503, a bad body: 400).
      throw err;
    });
  });
}

class ListError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(errors.join('; '));
    this.errors = errors;
  }
}

function me(user: PortalUser, csrf: string) {
  return { name: user.name, directory: user.directory, addresses: user.addresses, csrf };
}

function owners(user: PortalUser): string[] {
  return [...new Set(user.addresses.map(addressKey))];
}

function quarantineOf(portal: PortalDeps): RecipientQuarantine {
  if (!portal.quarantine) throw new HttpError(503, 'the quarantine is not available on this node');
  return portal.quarantine;
}

/** Whether quarantined message `id` has one of `addresses` among its recipients (compared as the recipient quarantine does). */
async function isTheirs(queue: QueueStore, id: string, addresses: readonly string[]): Promise<boolean> {
  if (!QUEUE_ID.test(id) || addresses.length === 0) return false;
  const env = await queue.read(id, 'quarantine');
  if (!env) return false;
  const mine = new Set(addresses.map((a) => a.trim().toLowerCase()));
  return env.recipients.some((r) => mine.has(r.address.trim().toLowerCase()));
}
