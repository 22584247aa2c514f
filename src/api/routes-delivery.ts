// Delivery look-ups over HTTP: the MTA-STS policy of a domain as an MX
// delivery would find it now (TXT record and policy fetched afresh through
// the configured resolvers; the daemon's delivery cache is neither read nor
// changed).

import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { readFile } from 'node:fs/promises';
import { domainKey, isDomainName } from '../address/path.ts';
import { durationMs } from '../core/duration.ts';
import { createDns } from '../delivery/resolver.ts';
import { fetchPolicyText, lookUpMtaSts, txtLookup } from '../delivery/mta-sts.ts';
import { HttpError, type ApiDeps } from './server.ts';

const Domain = Type.Object({ domain: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false });

export function registerDeliveryRoutes(api: FastifyInstance, deps: Pick<ApiDeps, 'snapshot'>): void {
  // It connects out (to mta-sts.DOMAIN, a name the caller chooses): admins only, as the directory test.
  api.get('/api/delivery/mta-sts/:domain', { schema: { tags: ['delivery'], params: Domain } }, async (req) => {
    if (req.principal?.role !== 'admin') throw new HttpError(403, 'only an admin may look a policy up (it connects out)');
    const raw = (req.params as { domain: string }).domain;
    if (!isDomainName(raw) || raw.startsWith('[')) throw new HttpError(400, `"${raw}" is not a domain name`);
    const domain = domainKey(raw);
    const s = deps.snapshot().settings;
    const m = s.delivery.mta_sts;
    const ca = m.ca ? await readFile(m.ca).catch(() => undefined) : undefined;
    const dns = createDns(s.dns.servers);
    return lookUpMtaSts(domain, txtLookup(s.dns.servers), (d) => fetchPolicyText(d, dns, { port: m.port, timeoutMs: durationMs(m.timeout), ca }));
  });
}
