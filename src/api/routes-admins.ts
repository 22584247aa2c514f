// Logging in and out, and the admin accounts and API tokens themselves.

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { AdminError, ADMIN_ROLES } from '../admin/admin-store.ts';
import { LoginThrottle, SESSION_COOKIE, Sessions } from './auth.ts';
import { hashPasswordAsync } from '../objects/password.ts';
import { HttpError, who, type ApiDeps } from './server.ts';

const Role = Type.Union(ADMIN_ROLES.map((r) => Type.Literal(r)));
const Strict = { additionalProperties: false } as const;

async function adminError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AdminError) throw new HttpError(/already exists/.test(err.message) ? 409 : /^no /.test(err.message) ? 404 : 422, err.message);
    throw err;
  }
}

export function registerAdminRoutes(api: FastifyInstance, deps: ApiDeps, sessions: Sessions, throttle: LoginThrottle): void {
  const { admins } = deps;

  api.post(
    '/api/login',
    { schema: { tags: ['session'], body: Type.Object({ name: Type.String({ maxLength: 64 }), password: Type.String({ maxLength: 1024 }) }, Strict) } },
    async (req, reply) => {
      const ip = req.ip;
      const wait = throttle.blockedFor(ip);
      if (wait > 0) {
        void reply.header('retry-after', String(wait));
        throw new HttpError(429, `too many failed logins from ${ip}; try again in ${wait} s`);
      }
      const { name, password } = req.body as { name: string; password: string };
      const attempt = throttle.begin(ip);
      const admin = await admins.verify(name, password);
      if (!admin) {
        // The name as typed is logged only when it is an account: a password typed into the name field must not reach the live log.
        deps.logger.log('admin.login', { name: (await admins.get(name)) ? name : '(unknown)', client: ip, ok: false });
        throw new HttpError(401, 'wrong name or password');
      }
      throttle.succeeded(ip, attempt);
      const s = await sessions.create(admin.name, admin.role, (await admins.current(admin.name))?.stamp ?? '');
      deps.logger.log('admin.login', { name, client: ip, ok: true });
      void reply.setCookie(SESSION_COOKIE, s.id, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
      return { name: admin.name, role: admin.role, csrf: s.csrf };
    },
  );

  api.post('/api/logout', { schema: { tags: ['session'] } }, async (req, reply) => {
    const p = who(req);
    if (p.sessionId) await sessions.delete(p.sessionId);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });

  api.get('/api/me', { schema: { tags: ['session'] } }, async (req) => {
    const p = who(req);
    return { name: p.name, role: p.role, via: p.via, csrf: p.csrf };
  });

  api.get('/api/admins', { schema: { tags: ['admins'] } }, async () => await admins.list());

  api.post(
    '/api/admins',
    { schema: { tags: ['admins'], body: Type.Object({ name: Type.String({ maxLength: 64 }), password: Type.String({ minLength: 8, maxLength: 1024 }), role: Role }, Strict) } },
    async (req, reply) => {
      const b = req.body as { name: string; password: string; role: 'admin' | 'viewer' };
      // The scrypt runs in the thread pool: tens of milliseconds the SMTP sessions do not wait for.
      const hash = await hashPasswordAsync(b.password);
      const a = await adminError(() => admins.add(b.name, b.password, b.role, hash));
      deps.logger.log('admin.change', { by: who(req).author, op: 'add admin', name: a.name, role: a.role });
      return reply.code(201).send(a);
    },
  );

  api.put(
    '/api/admins/:name',
    { schema: { tags: ['admins'], params: Type.Object({ name: Type.String() }), body: Type.Object({ password: Type.Optional(Type.String({ minLength: 8, maxLength: 1024 })), role: Type.Optional(Role) }, Strict) } },
    async (req) => {
      const { name } = req.params as { name: string };
      const b = req.body as { password?: string; role?: 'admin' | 'viewer' };
      const hash = b.password === undefined ? undefined : await hashPasswordAsync(b.password);
      await adminError(async () => {
        if (!(await admins.get(name))) throw new AdminError(`no admin "${name}"`);
        if (b.role !== undefined) await admins.setRole(name, b.role);
        if (b.password !== undefined && hash !== undefined) await admins.setPassword(name, b.password, hash);
      });
      // A demoted admin's sessions end; so do all sessions of one whose password changed, except this one.
      if (b.role === 'viewer' || b.password !== undefined) await sessions.dropAdmin(name, who(req).sessionId);
      const mine = who(req).sessionId;
      if (mine && who(req).name === name) await sessions.restamp(mine, (await admins.current(name))?.stamp ?? '');
      deps.logger.log('admin.change', { by: who(req).author, op: 'change admin', name, role: b.role, password: b.password !== undefined ? 'changed' : undefined });
      return await admins.get(name);
    },
  );

  api.delete('/api/admins/:name', { schema: { tags: ['admins'], params: Type.Object({ name: Type.String() }) } }, async (req) => {
    const { name } = req.params as { name: string };
    await adminError(() => admins.remove(name));
    await sessions.dropAdmin(name);
    deps.logger.log('admin.change', { by: who(req).author, op: 'remove admin', name });
    return { ok: true };
  });

  api.get('/api/tokens', { schema: { tags: ['admins'] } }, async () => await admins.tokens());

  api.post(
    '/api/tokens',
    { schema: { tags: ['admins'], body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }), role: Role }, Strict) } },
    async (req, reply) => {
      const b = req.body as { name: string; role: 'admin' | 'viewer' };
      const p = who(req);
      const t = await adminError(() => admins.createToken(b.name, b.role, p.name));
      deps.logger.log('admin.change', { by: p.author, op: 'create token', token: t.info.id, name: t.info.name, role: t.info.role });
      return reply.code(201).send(t);
    },
  );

  api.delete('/api/tokens/:id', { schema: { tags: ['admins'], params: Type.Object({ id: Type.String() }) } }, async (req) => {
    const { id } = req.params as { id: string };
    await adminError(() => admins.revokeToken(id));
    deps.logger.log('admin.change', { by: who(req).author, op: 'revoke token', token: id });
    return { ok: true };
  });
}
