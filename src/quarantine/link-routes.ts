// The digest's links on the admin listener, without a login (issue 21):
//   GET  /quarantine/link?t=TOKEN  shows the message (sender, subject, reason,
//                                  date) and a button for the token's action;
//   POST /quarantine/link          (form field t=TOKEN) does it.
// A GET never changes anything: mail scanners and link previews fetch the
// links in mail. The token is the only authority and reaches only its own
// message, its own address's share and its own action. Forged or expired →
// 403; gone → 410; a refusal (malware) → 403 saying to ask the administrator.
// The work is bounded (LinkLimiter): the token is checked (one HMAC) before
// the store is asked anything.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log/logger.ts';
import { QueueError } from '../queue/queue-error.ts';
import { QuarantineDenied } from './quarantine-access.ts';
import type { StoreRecipientQuarantine } from './recipient-quarantine.ts';
import { MAX_TOKEN_CHARS, type LinkSigner } from './link-token.ts';
import { LinkLimiter } from './link-limiter.ts';
import { actionPage, busyPage, deniedPage, donePage, gonePage, invalidPage } from './link-page.ts';

export const LINK_PATH = '/quarantine/link';

export interface LinkRouteDeps {
  quarantine: StoreRecipientQuarantine;
  /** The signer over the store's secret (made once, on first use). */
  signer: () => Promise<LinkSigner>;
  logger: Logger;
  limiter?: LinkLimiter;
  now?: () => number;
}

/** Registers the two routes in their own scope (their form parser stays theirs). */
export function registerLinkRoutes(app: FastifyInstance, deps: LinkRouteDeps): void {
  const limiter = deps.limiter ?? new LinkLimiter();
  const now = deps.now ?? Date.now;
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    const send = (reply: FastifyReply, status: number, html: string) =>
      reply
        .code(status)
        .header('content-type', 'text/html; charset=utf-8')
        // The token is in the URL: never sent on as a referrer, never cached, never framed.
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-store')
        .header('x-frame-options', 'DENY')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
        .send(html);
    const gate = (req: FastifyRequest, reply: FastifyReply): boolean => {
      if (limiter.admit(req.ip, now())) return true;
      void send(reply.header('retry-after', '60'), 429, busyPage());
      return false;
    };

    scope.get(LINK_PATH, { schema: { hide: true } }, async (req, reply) => {
      if (!gate(req, reply)) return reply;
      const t = (req.query as { t?: unknown }).t;
      const check = (await deps.signer()).verify(typeof t === 'string' && t.length <= MAX_TOKEN_CHARS ? t : '', now());
      if (!check.ok) {
        deps.logger.log('quarantine.link_refused', { why: check.why, method: 'GET', client: req.ip });
        return send(reply, 403, invalidPage());
      }
      const { claims } = check;
      const found = await limiter.run(async () => ({ entry: await deps.quarantine.entryFor(claims.id, claims.address) }));
      if (found === null) return send(reply.header('retry-after', '5'), 503, busyPage());
      if (found.entry === null) return send(reply, 410, gonePage());
      return send(reply, 200, actionPage(found.entry, claims.action, t as string));
    });

    scope.post(LINK_PATH, { schema: { hide: true } }, async (req, reply) => {
      if (!gate(req, reply)) return reply;
      const body = req.body as Record<string, unknown> | undefined;
      const t = body && typeof body === 'object' ? body.t : undefined;
      const check = (await deps.signer()).verify(t, now(), { action: ['release', 'delete'] });
      if (!check.ok) {
        deps.logger.log('quarantine.link_refused', { why: check.why, method: 'POST', client: req.ip });
        return send(reply, 403, invalidPage());
      }
      const { action, id, address } = check.claims;
      const by = { kind: 'link' as const, address };
      try {
        const done = await limiter.run(() => (action === 'release' ? deps.quarantine.releaseFor(id, [address], by) : deps.quarantine.deleteFor(id, [address], by)));
        if (done === null) return send(reply.header('retry-after', '5'), 503, busyPage());
        return send(reply, 200, donePage(action === 'release' ? 'release' : 'delete'));
      } catch (err) {
        if (err instanceof QueueError) return send(reply, 410, gonePage());
        if (err instanceof QuarantineDenied) {
          // The share is gone (released or deleted before) or the category is not self-releasable.
          return /not a recipient/.test(err.message) ? send(reply, 410, gonePage()) : send(reply, 403, deniedPage(err.message));
        }
        throw err;
      }
    });
  });
}
