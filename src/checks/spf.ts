// SPF (antispam.spf) at the end of DATA, on the origin address and the MAIL
// FROM domain (the origin's HELO name for <>): the result goes into our
// Authentication-Results field (src/antispam/auth-results.ts, written with
// the other methods' results); a fail is refused with 550 5.7.23 when the
// action is reject. DNS trouble is temperror, never a refusal. The DMARC
// check takes this result when this check ran, and asks spfOutcome() itself
// when it did not, so that SPF is never looked up twice.

import { durationMs } from '../core/duration.ts';
import { MailError } from '../core/mail-error.ts';
import type { AuthPart } from '../antispam/auth-results.ts';
import { readReceivedFrom } from '../antispam/received-walk.ts';
import { checkSpf, type SpfOutcome } from '../antispam/spf.ts';
import type { Check, DataInput, SessionFacts, Verdict } from './check.ts';

/** The origin's own HELO: never another host's (the upstream's) in its place; null when no header says it. */
export function originHelo(s: SessionFacts, x: DataInput): string | null {
  if (!s.upstream || x.origin.text === s.client.text) return s.helo;
  const h = x.origin.header === null ? undefined : x.received[x.origin.header];
  return h === undefined ? null : (readReceivedFrom(h)?.helo ?? null);
}

/** SPF for the origin of this message; never throws (DNS trouble is temperror). */
export async function spfOutcome(s: SessionFacts, x: DataInput): Promise<SpfOutcome & { helo: string | null }> {
  const st = s.snap.settings;
  const helo = originHelo(s, x);
  if (x.sender === '' && !helo) {
    return { helo, result: 'none', comment: 'no HELO name known for the origin of a message from <>', info: 'spf=none (no HELO name known for the origin) smtp.mailfrom=<>', receivedSpf: '', domain: '' };
  }
  const r = s.services.resolver(st);
  try {
    return { helo, ...(await checkSpf({ ip: x.origin.text, sender: x.sender, helo: helo ?? '', hostname: st.hostname, resolver: (name, type) => r.resolve(name, type), timeoutMs: durationMs(st.antispam.dns_timeout) * 2 })) };
  } catch (err) {
    return { helo, result: 'temperror', comment: (err as Error).message, info: 'spf=temperror', receivedSpf: '', domain: '' };
  }
}

export function spfPart(out: SpfOutcome): AuthPart {
  return { method: 'spf', result: out.result, info: out.info, domain: out.domain };
}

async function spf(s: SessionFacts, x: DataInput): Promise<Verdict> {
  const out = await spfOutcome(s, x);
  const log = { spf: { result: out.result, identity: x.sender === '' ? `helo ${out.helo}` : x.sender } };
  if (out.result === 'fail' && s.snap.settings.antispam.spf.action === 'reject') {
    return { kind: 'refuse', error: new MailError(550, '5.7.23', `SPF check failed for ${x.sender === '' ? out.helo : x.sender}`, { rule: 'antispam.spf.action', reason: out.comment }), log };
  }
  return { kind: 'pass', log, add: { auth: [spfPart(out)] } };
}

export const spfCheck: Check = {
  name: 'spf',
  asks: 'dns',
  exception: 'spf',
  enabled: (snap) => snap.settings.antispam.spf.enabled,
  data: { who: ['direct', 'upstream'], run: spf },
};
