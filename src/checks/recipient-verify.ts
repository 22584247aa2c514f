// Recipient verification (domains[].verify_recipients) at RCPT TO: a
// recipient in a local domain must exist, or it is refused with 550 5.1.1
// before DATA. Accepting mail for anyone and letting the internal server
// refuse it later makes the relay send the bounce to the (often forged)
// sender: backscatter, which gets the relay itself blocklisted.
//
// Two checks, so that `policy explain` offline (and the API's explain) can
// show the list mode, which needs nothing but the settings, while the modes
// that ask something (the directory, the internal server by callout) run
// only where I/O is allowed (the daemon, `policy explain` online):
// - recipient-list: `list`, from the settings alone;
// - recipient-verify: `directory` and `callout`.
// Every kind of client is verified alike (direct, upstream, relay hosts,
// authenticated users): mail from the inside to a local mailbox that does
// not exist would bounce just the same. The decisions are in
// recipient-rules.ts; the probes in src/delivery/callout.ts.

import { parseHostPort } from '../address/host-port.ts';
import { defaultCallout, type CalloutSettings } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import { EVERYONE, PASS, type Check, type RcptInput, type SessionFacts, type Verdict } from './check.ts';
import { anyDomainUses, listHas, refusal, verificationTarget, type Target } from './recipient-rules.ts';

function passed(t: Target, fields: Record<string, unknown>): Verdict {
  return { kind: 'pass', log: { recipient_verify: { mode: t.mode, answer: 'exists', ...fields } } };
}

function refused(t: Target, answer: 'unknown' | 'temporary', busy: boolean, reason: string, fields: Record<string, unknown> = {}): Verdict {
  return { kind: 'refuse', error: refusal(answer, busy, t.mode, `${t.address}: ${reason}`), log: { recipient_verify: { mode: t.mode, answer, ...fields } } };
}

function byList(s: SessionFacts, x: RcptInput): Verdict {
  if (x.repeat) return PASS;
  const t = verificationTarget(s.snap, x.path);
  if (!t || t.mode !== 'list') return PASS;
  return listHas(t.domain, t.mailbox) ? passed(t, {}) : refused(t, 'unknown', false, 'not in the domain\'s recipients list');
}

async function byLookup(s: SessionFacts, x: RcptInput): Promise<Verdict> {
  if (x.repeat) return PASS;
  const t = verificationTarget(s.snap, x.path);
  if (!t || t.mode === 'list') return PASS;
  return t.mode === 'directory' ? byDirectory(s, t) : byCallout(s, t);
}

async function byDirectory(s: SessionFacts, t: Target): Promise<Verdict> {
  const dirs = s.services.directories;
  const name = t.domain.directory ?? '';
  // No directory client in this process (or none named): nobody to ask, so nobody is accepted.
  if (!dirs || !name) return refused(t, 'temporary', false, dirs ? 'no directory named' : 'no directory client in this process');
  let known: boolean;
  try {
    known = await dirs.hasAddress(s.snap, name, t.address);
  } catch (err) {
    return refused(t, 'temporary', false, `directory "${name}": ${err instanceof Error ? err.message : String(err)}`);
  }
  return known ? passed(t, { directory: name }) : refused(t, 'unknown', false, `not in directory "${name}"`, { directory: name });
}

/** The callout settings of a domain, defaults filled in. */
export function calloutOf(c: CalloutSettings | undefined): CalloutSettings {
  return { ...defaultCallout(), ...c };
}

async function byCallout(s: SessionFacts, t: Target): Promise<Verdict> {
  const c = calloutOf(t.domain.callout);
  const hosts = t.domain.route.hosts.flatMap((h) => {
    const hp = parseHostPort(h, 25);
    return hp.ok ? [hp.value] : [];
  });
  const settings = s.snap.settings;
  const v = await s.services.callout.verify({
    hosts,
    hostname: settings.hostname,
    sender: c.sender,
    address: t.address,
    timeoutMs: durationMs(c.timeout),
    positiveMs: durationMs(c.cache_positive),
    negativeMs: durationMs(c.cache_negative),
    resolve: async (name) => {
      const r = s.services.resolver(settings);
      const v4 = await r.resolve4(name).catch(() => [] as string[]);
      return v4.length ? v4 : r.resolve6(name);
    },
  });
  const fields = { cached: v.cached };
  if (v.answer === 'exists') return passed(t, fields);
  return refused(t, v.answer, v.busy, `callout: ${v.detail}`, fields);
}

export const recipientList: Check = {
  name: 'recipient-list',
  enabled: (snap) => anyDomainUses(snap, ['list']),
  rcpt: { who: EVERYONE, run: byList },
};

export const recipientVerify: Check = {
  name: 'recipient-verify',
  asks: 'network',
  enabled: (snap) => anyDomainUses(snap, ['directory', 'callout']),
  rcpt: { who: EVERYONE, run: byLookup },
};
