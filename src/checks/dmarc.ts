// DKIM, DMARC and ARC (antispam.dmarc) at the end of DATA, for the same
// clients as SPF (direct and upstream: never a client with a relay right).
// The results join our Authentication-Results field; a DMARC fail is
// judged against the From domain's published policy and the action
// (src/antispam/dmarc-policy.ts): p=reject refused with 550 5.7.1 (action
// reject), quarantined, or tagged with a spam symbol. The SPF result is the
// spf check's when it ran (it sits before this one), otherwise looked up
// here once. DNS trouble is temperror and the mail is accepted.

import { durationMs } from '../core/duration.ts';
import { MailError } from '../core/mail-error.ts';
import { authResultsField, type AuthPart } from '../antispam/auth-results.ts';
import { deadlineResolver, verifyDmarc } from '../antispam/dmarc.ts';
import { decideDmarc } from '../antispam/dmarc-policy.ts';
import type { Check, DataInput, SessionFacts, Verdict } from './check.ts';
import { spfOutcome, spfPart } from './spf.ts';

/** Per phase of a message (the DKIM keys and ARC; then the DMARC records), beyond the per-question dns_timeout. */
const QUESTIONS_PER_MESSAGE = 4;

async function dmarc(s: SessionFacts, x: DataInput): Promise<Verdict> {
  const st = s.snap.settings;
  const cfg = st.antispam.dmarc;
  const added: AuthPart[] = [];
  let spf = x.added.auth.find((p) => p.method === 'spf');
  if (!spf) {
    spf = spfPart(await spfOutcome(s, x));
    added.push(spf);
  }
  const r = s.services.resolver(st);
  const within = () => deadlineResolver((name, type) => r.resolve(name, type), s.services.now() + durationMs(st.antispam.dns_timeout) * QUESTIONS_PER_MESSAGE);
  const message = await x.contents();
  // Two deadlines: the DKIM keys and ARC, then the DMARC records (see verifyDmarc).
  const v = await verifyDmarc({ message: message.chunks(), spf: { result: spf.result, domain: spf.domain ?? '' }, resolver: within(), policyResolver: within });
  added.push(...v.parts);
  const d = decideDmarc(v.dmarc, cfg.action, Math.random() * 100);
  const log = {
    dmarc: {
      result: v.dmarc.result,
      from: v.dmarc.from,
      policy: v.dmarc.policy,
      ...(v.dmarc.pct < 100 ? { pct: v.dmarc.pct, sampled: d.sampled } : {}),
      action: d.act,
      dkim: v.dkim,
      arc: v.arc,
      spf: spf.result,
      ...(v.dmarc.reason ? { reason: v.dmarc.reason } : {}),
      ...(v.dmarc.malformed ? { from_problem: v.dmarc.malformed, authors: v.dmarc.authors } : {}),
      ...(v.nameDomains.length ? { name_addresses: v.nameDomains } : {}),
    },
  };
  // Several From fields or domains: the text names the problem, so the sender sees what to fix.
  const problem = v.dmarc.malformed ? `${v.dmarc.malformed}; ` : '';
  const says = v.dmarc.from ? `DMARC policy of ${v.dmarc.from} says reject` : 'judged as DMARC p=reject';
  const reason = `${problem}DMARC ${v.dmarc.result} for ${v.dmarc.from ?? 'the From domains'}: policy ${d.applied}`;
  if (d.act === 'reject') {
    return { kind: 'refuse', error: new MailError(550, '5.7.1', `Message refused: ${problem}${says}`, { rule: 'antispam.dmarc.action', reason }), log };
  }
  if (d.act === 'quarantine') {
    // The stage ends here, before the content scan that writes the field: the quarantined copy carries it.
    const field = authResultsField(st.hostname, [...x.added.auth, ...added]);
    return { kind: 'quarantine', rule: 'antispam.dmarc.action', reason, log, edit: { add: field ? [field] : [], remove: ['Authentication-Results'], subjectTag: null } };
  }
  // An address of another domain in the From display name: reported only (a symbol without points in tag mode), see from-display-name.ts.
  const nameSymbol = cfg.action === 'tag' && v.nameDomains.length ? ['DMARC_FROM_NAME_ADDR'] : [];
  if (d.act === 'tag') return { kind: 'pass', log, add: { auth: added, symbols: [...(v.dmarc.malformed ? ['DMARC_FAIL', 'DMARC_BAD_FROM'] : ['DMARC_FAIL']), ...nameSymbol], points: cfg.score } };
  if (nameSymbol.length) return { kind: 'pass', log, add: { auth: added, symbols: nameSymbol, points: 0 } };
  return { kind: 'pass', log, add: { auth: added } };
}

export const dmarcCheck: Check = {
  name: 'dmarc',
  asks: 'dns',
  exception: 'dmarc',
  enabled: (snap) => snap.settings.antispam.dmarc.enabled,
  data: { who: ['direct', 'upstream'], run: dmarc },
};
