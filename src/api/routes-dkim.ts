// DKIM over HTTP (the web admin's DKIM page): the keys without their secrets
// and with the DNS record each needs, the published records checked through
// the relay's resolver, the sign mode, and adding (a key generated here and
// kept in the settings as a secret, or a key_file on the server) or removing
// a key. Every change is a settings revision through ConfigService (422 with
// the errors, 409 when another change landed first).

import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { ApplyResult } from '../admin/config-service.ts';
import type { DkimKeyDef, DkimSettings } from '../config/document.ts';
import { checkKeys, keysOf, keyViews } from '../dkim/published.ts';
import { dnsRecord, generateKeyAsync, parsePrivateKey, signingDomain } from '../dkim/keys.ts';
import { HttpError, who, type ApiDeps } from './server.ts';
import type { WorkLimiter } from './work-limit.ts';

const Strict = { additionalProperties: false } as const;
const Text = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const Revision = Type.Optional(Type.Integer({ minimum: 0 }));
const Algorithm = Type.Union([Type.Literal('rsa-sha256'), Type.Literal('ed25519-sha256')]);

const CheckBody = Type.Object({ domain: Type.String({ minLength: 1, maxLength: 255 }), selector: Text(255) }, Strict);
const ModeBody = Type.Object(
  {
    sign: Type.Union([Type.Literal('relayed'), Type.Literal('all')]),
    headers: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 100 })),
    subdomains: Type.Optional(Type.Boolean()),
    revision: Revision,
    comment: Text(500),
  },
  Strict,
);
const KeyBody = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 255 }),
    selector: Type.String({ minLength: 1, maxLength: 255 }),
    algorithm: Type.Optional(Algorithm),
    /** RSA only; default 2048. */
    bits: Type.Optional(Type.Integer({ minimum: 1024, maximum: 4096 })),
    /** A key file on the server instead of a key generated here. */
    key_file: Text(4096),
    signing_domain: Text(255),
    comment: Text(1024),
    revision: Revision,
  },
  Strict,
);
const KeyName = Type.Object({ domain: Type.String({ maxLength: 255 }), selector: Type.String({ maxLength: 255 }) }, Strict);
const RemoveQuery = Type.Object({ revision: Type.Optional(Type.String({ pattern: '^[0-9]{1,10}$' })), comment: Text(500) }, Strict);

function answer(reply: FastifyReply, r: ApplyResult, extra: Record<string, unknown> = {}, created = false): FastifyReply {
  return reply.code(r.ok ? (created ? 201 : 200) : 422).send({ ...r, ...extra });
}

export function registerDkimRoutes(api: FastifyInstance, deps: ApiDeps, limiter: WorkLimiter): void {
  const { service } = deps;
  const meta = (req: Parameters<typeof who>[0], comment: string | undefined, what: string) => ({ author: who(req).author, comment: comment ?? `${what} (web admin/API)` });
  const work = <T>(req: Parameters<typeof who>[0], fn: () => Promise<T>): Promise<T> => limiter.run(who(req).name, fn);
  const change = (req: Parameters<typeof who>[0], what: string, comment: string | undefined, revision: number | undefined, edit: (d: DkimSettings) => DkimSettings) =>
    work(req, async () => service.applySection('dkim', edit(structuredClone((await service.settings()).dkim)), meta(req, comment, what), { revision }));

  api.get('/api/dkim', { schema: { tags: ['dkim'], description: 'the keys (no secrets) with the DNS TXT record to publish for each, and the sign mode' } }, async () => {
    const s = await service.settings();
    return { revision: await service.activeRevision(), sign: s.dkim.sign, headers: s.dkim.headers, subdomains: s.dkim.subdomains, keys: keyViews(s) };
  });

  api.post('/api/dkim/check', { schema: { tags: ['dkim'], body: CheckBody, description: 'looks the published records of a domain up through dns.servers and compares them with the configured keys' } }, async (req) => {
    const { domain, selector } = req.body as { domain: string; selector?: string };
    const s = await service.settings();
    const keys = keysOf(s, domain, selector);
    if (keys.length === 0) throw new HttpError(404, `no DKIM key configured for ${domain}${selector ? ` with selector ${selector}` : ''}`);
    const results = await checkKeys(keys, s.dns.servers);
    return { ok: results.every((r) => r.status === 'match'), results };
  });

  api.put('/api/dkim', { schema: { tags: ['dkim'], body: ModeBody, description: 'the sign mode, header list and subdomains (the keys stay)' } }, async (req, reply) => {
    const b = req.body as { sign: DkimSettings['sign']; headers?: string[]; subdomains?: boolean; revision?: number; comment?: string };
    const r = await change(req, `dkim sign ${b.sign}`, b.comment, b.revision, (d) => ({ ...d, sign: b.sign, ...(b.headers ? { headers: b.headers } : {}), ...(b.subdomains !== undefined ? { subdomains: b.subdomains } : {}) }));
    return answer(reply, r);
  });

  api.post('/api/dkim/keys', { schema: { tags: ['dkim'], body: KeyBody, description: 'adds a key: generated here (kept in the settings as a secret) unless key_file names one on the server; answers the record to publish' } }, async (req, reply) => {
    const b = req.body as { domain: string; selector: string; algorithm?: DkimKeyDef['algorithm']; bits?: number; key_file?: string; signing_domain?: string; comment?: string; revision?: number };
    const algorithm = b.algorithm ?? 'rsa-sha256';
    const def: DkimKeyDef = { domain: b.domain.trim().toLowerCase(), selector: b.selector.trim(), algorithm };
    if (b.key_file) def.key_file = b.key_file;
    else def.key = await generateKeyAsync(algorithm, b.bits ?? 2048);
    if (b.signing_domain) def.signing_domain = b.signing_domain.trim().toLowerCase();
    if (b.comment) def.comment = b.comment;
    const r = await change(req, `add dkim key ${def.selector}._domainkey.${def.domain}`, undefined, b.revision, (d) => ({ ...d, keys: [...d.keys, def] }));
    const record = r.ok && def.key ? dnsRecord(def.selector, signingDomain(def), parsePrivateKey(def.key, algorithm)) : null;
    return answer(reply, r, record ? { record } : {}, true);
  });

  api.delete('/api/dkim/keys/:domain/:selector', { schema: { tags: ['dkim'], params: KeyName, querystring: RemoveQuery } }, async (req, reply) => {
    const { domain, selector } = req.params as { domain: string; selector: string };
    const q = req.query as { revision?: string; comment?: string };
    const d = domain.toLowerCase();
    const s = await service.settings();
    if (!s.dkim.keys.some((k) => k.domain.toLowerCase() === d && k.selector === selector)) throw new HttpError(404, `no DKIM key ${selector}._domainkey.${domain}`);
    const r = await change(req, `remove dkim key ${selector}._domainkey.${domain}`, q.comment, q.revision === undefined ? undefined : Number(q.revision), (x) => ({ ...x, keys: x.keys.filter((k) => !(k.domain.toLowerCase() === d && k.selector === selector)) }));
    return answer(reply, r);
  });
}
