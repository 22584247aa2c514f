// The logged-in admin's own password, and the TLS certificate: what is in
// use, an uploaded certificate and key (checked, stored under DATA/tls/
// uploaded/, then applied as the `tls` section so that the revision records
// it), or back to the self-signed one (`tls: null`). The daemon loads its
// certificate at start (src/smtp/tls.ts), so a new one is used after the next
// restart: GET /api/tls says when the configured one differs from the one in use.

import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { hashPasswordAsync } from '../objects/password.ts';
import { checkUpload, describeCert, parseCert, type CertInfo } from '../admin/tls-cert.ts';
import type { LoginThrottle, Sessions } from './auth.ts';
import { HttpError, who, type ApiDeps } from './server.ts';

const Strict = { additionalProperties: false } as const;
/** A PEM bundle with a few intermediates is a few KB; 64 KiB is plenty. */
const Pem = Type.String({ minLength: 1, maxLength: 65_536 });

export function registerSystemRoutes(api: FastifyInstance, deps: ApiDeps, sessions: Sessions, throttle: LoginThrottle): void {
  const { admins, service } = deps;

  // The same rules as an admin account's password (POST /api/admins): 8 to 1024 characters.
  api.post(
    '/api/me/password',
    { schema: { tags: ['session'], body: Type.Object({ current: Type.String({ maxLength: 1024 }), password: Type.String({ minLength: 8, maxLength: 1024 }) }, Strict) } },
    async (req) => {
      const p = who(req);
      if (p.via !== 'session' || !p.sessionId) throw new HttpError(403, 'an API token cannot change a password; log in to change yours');
      const ip = req.ip;
      // A stolen session must not become a way to guess the password: wrong current passwords count as failed logins.
      const wait = throttle.blockedFor(ip);
      if (wait > 0) throw new HttpError(429, `too many wrong passwords from ${ip}; try again in ${wait} s`);
      const { current, password } = req.body as { current: string; password: string };
      const attempt = throttle.begin(ip);
      if (!(await admins.verify(p.name, current))) {
        deps.logger.log('admin.change', { by: p.author, op: 'change own password', ok: false, reason: 'wrong current password' });
        throw new HttpError(422, 'Current password: wrong password');
      }
      throttle.succeeded(ip, attempt);
      await admins.setPassword(p.name, password, await hashPasswordAsync(password));
      // Every other session of this admin ends; this one goes on with the new stamp.
      await sessions.dropAdmin(p.name, p.sessionId);
      await sessions.restamp(p.sessionId, (await admins.current(p.name))?.stamp ?? '');
      deps.logger.log('admin.change', { by: p.author, op: 'change own password', name: p.name, ok: true });
      return { ok: true, session: 'kept', other_sessions: 'ended' };
    },
  );

  const selfSignedPath = (): string | null => (deps.dataDir ? join(deps.dataDir, 'tls', 'cert.pem') : null);
  const fileInfo = async (path: string | null): Promise<CertInfo | null> => {
    if (!path) return null;
    try {
      const c = parseCert(await readFile(path));
      return c ? describeCert(c) : null;
    } catch {
      return null;
    }
  };

  api.get('/api/tls', { schema: { tags: ['tls'] } }, async () => {
    const c = parseCert(deps.tls.cert);
    const in_use = c ? describeCert(c) : null;
    const configured = (await service.settings()).tls;
    const next = await fileInfo(configured ? configured.cert : selfSignedPath());
    return {
      in_use,
      configured: configured ? { cert: configured.cert, key: configured.key } : null,
      // What the next start loads (null: a self-signed certificate is generated then).
      next_start: next,
      restart_needed: !!in_use && (!next || next.fingerprint !== in_use.fingerprint),
    };
  });

  const answer = (reply: FastifyReply, r: Awaited<ReturnType<typeof service.applySection>>) => reply.code(r.ok ? 200 : 422).send(r);

  api.put('/api/tls', { schema: { tags: ['tls'], body: Type.Object({ cert: Pem, key: Pem, comment: Type.Optional(Type.String({ maxLength: 500 })) }, Strict) } }, async (req, reply) => {
    const b = req.body as { cert: string; key: string; comment?: string };
    if (!deps.dataDir) throw new HttpError(503, 'this daemon has no data directory to store a certificate in');
    const checked = checkUpload(b.cert, b.key, new Date());
    if (!checked.ok) {
      const errors = checked.errors.map((message) => ({ path: /^Private key/.test(message) ? 'tls.key' : 'tls.cert', message }));
      return reply.code(422).send({ ok: false, errors, warnings: [], changes: [], revision: null });
    }
    const dir = join(deps.dataDir, 'tls', 'uploaded');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Named by fingerprint: the files the active revision names are never overwritten by a later upload.
    const stem = checked.cert.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase();
    const certPath = join(dir, `${stem}-cert.pem`);
    const keyPath = join(dir, `${stem}-key.pem`);
    const existed = existsSync(certPath);
    writeFileSync(keyPath, checked.key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(certPath, b.cert.trim() + '\n', { mode: 0o644 });
    const p = who(req);
    const r = await service.applySection('tls', { cert: certPath, key: keyPath }, { author: p.author, comment: b.comment ?? 'TLS certificate uploaded (web admin/API)' });
    if (!r.ok && !existed) {
      rmSync(certPath, { force: true });
      rmSync(keyPath, { force: true });
    }
    if (r.ok) deps.logger.log('tls.uploaded', { by: p.author, subject: describeCert(checked.cert).subject, valid_to: describeCert(checked.cert).valid_to, cert: certPath, note: 'used from the next start' });
    return answer(reply, r);
  });

  api.delete('/api/tls', { schema: { tags: ['tls'] } }, async (req, reply) => {
    const p = who(req);
    return answer(reply, await service.applySection('tls', null, { author: p.author, comment: 'TLS: back to the self-signed certificate (web admin/API)' }));
  });
}
