// SPF (antispam.spf) at the end of DATA, on the origin address and the MAIL
// FROM domain (the origin's HELO name for <>): the result goes into an
// Authentication-Results field; a fail is refused with 550 5.7.23 when the
// action is reject. DNS trouble is temperror, never a refusal.

import { durationMs } from '../core/duration.ts';
import { MailError } from '../core/mail-error.ts';
import { readReceivedFrom } from '../antispam/received-walk.ts';
import { checkSpf, type SpfOutcome } from '../antispam/spf.ts';
import type { Check, DataInput, SessionFacts, Verdict } from './check.ts';

/** The origin's own HELO: never another host's (the upstream's) in its place; null when no header says it. */
function originHelo(s: SessionFacts, x: DataInput): string | null {
  if (!s.upstream || x.origin.text === s.client.text) return s.helo;
  const h = x.origin.header === null ? undefined : x.received[x.origin.header];
  return h === undefined ? null : (readReceivedFrom(h)?.helo ?? null);
}

async function spf(s: SessionFacts, x: DataInput): Promise<Verdict> {
  const st = s.snap.settings;
  const helo = originHelo(s, x);
  let out: SpfOutcome;
  if (x.sender === '' && !helo) {
    out = { result: 'none', comment: 'no HELO name known for the origin of a message from <>', info: 'spf=none (no HELO name known for the origin) smtp.mailfrom=<>', receivedSpf: '' };
  } else {
    const r = s.services.resolver(st);
    try {
      out = await checkSpf({ ip: x.origin.text, sender: x.sender, helo: helo ?? '', hostname: st.hostname, resolver: (name, type) => r.resolve(name, type), timeoutMs: durationMs(st.antispam.dns_timeout) * 2 });
    } catch (err) {
      out = { result: 'temperror', comment: (err as Error).message, info: 'spf=temperror', receivedSpf: '' };
    }
  }
  const log = { spf: { result: out.result, identity: x.sender === '' ? `helo ${helo}` : x.sender } };
  if (out.result === 'fail' && st.antispam.spf.action === 'reject') {
    return { kind: 'refuse', error: new MailError(550, '5.7.23', `SPF check failed for ${x.sender === '' ? helo : x.sender}`, { rule: 'antispam.spf.action', reason: out.comment }), log };
  }
  // Folded before each property, so that a long comment does not make one long line.
  const header = `Authentication-Results: ${st.hostname};\r\n\t${out.info.replace(/\s+/g, ' ').replace(/ (smtp\.[a-z]+=)/g, '\r\n\t$1')}`;
  return { kind: 'pass', log, add: { headers: [header] } };
}

export const spfCheck: Check = {
  name: 'spf',
  asks: 'dns',
  exception: 'spf',
  enabled: (snap) => snap.settings.antispam.spf.enabled,
  data: { who: ['direct', 'upstream'], run: spf },
};
