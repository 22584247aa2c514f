// DNS blocklists (antispam.dnsbl). A direct client is looked up at connect
// and refused there when nothing later can change the answer (an mx
// listener, no authenticated relay that could exempt it, no exception by
// sender); otherwise the answer is kept and applied at MAIL FROM. For mail
// from an upstream host the origin (past the upstream hosts) is looked up at
// the end of DATA. Entries with action score add points for the spam
// decision. A DNS failure skips the zone, never refuses.

import type { Settings } from '../config/document.ts';
import { MailError } from '../core/mail-error.ts';
import { checkDnsbl, type DnsblOutcome } from '../antispam/dnsbl.ts';
import { dependsOnSender } from '../antispam/exceptions.ts';
import { PASS, type Check, type SessionFacts, type Verdict } from './check.ts';

function refusal(o: DnsblOutcome, s: Settings, who: string): MailError | null {
  const hit = o.listed.find((h) => h.action === 'reject');
  if (!hit) return null;
  const i = s.antispam.dnsbl.findIndex((d) => d.zone === hit.zone);
  return new MailError(554, '5.7.1', `Service unavailable; ${who} listed at ${hit.zone}`, { rule: `antispam.dnsbl[${i}]`, reason: `${who} listed at ${hit.zone} (${hit.answer})` });
}

function logOf(o: DnsblOutcome): Record<string, unknown> {
  return { dnsbl: { listed: o.listed.map((h) => ({ zone: h.zone, answer: h.answer, action: h.action })), clean: o.clean, skipped: o.skipped } };
}

function lookup(s: SessionFacts, ip: bigint): Promise<DnsblOutcome> {
  const r = s.services.resolver(s.snap.settings);
  return checkDnsbl(ip, s.snap.settings.antispam.dnsbl, (name) => r.resolve4(name));
}

function scored(o: DnsblOutcome): Verdict {
  const hits = o.listed.filter((h) => h.action === 'score');
  return hits.length ? { kind: 'pass', add: { points: hits.reduce((n, h) => n + h.score, 0), symbols: hits.map((h) => `DNSBL_${h.zone}`) } } : PASS;
}

export const dnsbl: Check = {
  name: 'dnsbl',
  asks: 'dns',
  exception: 'dnsbl',
  enabled: (snap) => snap.settings.antispam.dnsbl.length > 0,
  connect: {
    who: ['direct'],
    async run(s): Promise<Verdict> {
      const st = s.snap.settings;
      const outcome = await lookup(s, s.client.ip);
      s.memo.outcome = outcome;
      const final = s.listener?.mode === 'mx' && !st.relaying.authenticated_relay.enabled && !dependsOnSender(st.antispam.exceptions, 'dnsbl');
      const error = final ? refusal(outcome, st, `client [${s.client.text}]`) : null;
      return error ? { kind: 'refuse', error, log: logOf(outcome) } : { kind: 'pass', log: logOf(outcome) };
    },
  },
  mail: {
    who: ['direct'],
    run(s): Verdict {
      const kept = s.memo.outcome as DnsblOutcome | undefined;
      const error = kept ? refusal(kept, s.snap.settings, `client [${s.client.text}]`) : null;
      return error && kept ? { kind: 'refuse', error, log: logOf(kept) } : PASS;
    },
  },
  data: {
    who: ['direct', 'upstream'],
    async run(s, x): Promise<Verdict> {
      // A direct client was looked up at connect; its score entries count here.
      if (!s.upstream) return s.memo.outcome ? scored(s.memo.outcome as DnsblOutcome) : PASS;
      const o = await lookup(s, x.origin.ip);
      const error = refusal(o, s.snap.settings, `origin [${x.origin.text}]`);
      if (error) return { kind: 'refuse', error, log: logOf(o) };
      const v = scored(o);
      return { ...v, log: logOf(o) } as Verdict;
    },
  },
};
