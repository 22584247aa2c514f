// What the administrator sees of the DKIM keys (CLI `dkim list|check`, API
// /api/dkim): each key without its secret and with the DNS record to
// publish, and the published record looked up through the relay's resolver
// (dns.servers) and compared with the configured key.

import { Resolver } from 'node:dns/promises';
import type { DkimKeyDef, Settings } from '../config/document.ts';
import { domainKey } from '../address/path.ts';
import { compareRecord, dnsRecord, loadPrivateKey, signingDomain, type DnsRecord } from './keys.ts';

export interface KeyView {
  domain: string;
  selector: string;
  algorithm: DkimKeyDef['algorithm'];
  signing_domain: string;
  /** Where the private key is: inline in the settings (a secret, never shown) or in a file. */
  source: 'key' | 'key_file';
  key_file?: string;
  comment?: string;
  /** The TXT record to publish; null when the key cannot be read (then `error` says why). */
  record: DnsRecord | null;
  error?: string;
}

export function keyViews(s: Settings): KeyView[] {
  return s.dkim.keys.map((k) => {
    const v: KeyView = { domain: k.domain, selector: k.selector, algorithm: k.algorithm, signing_domain: signingDomain(k), source: k.key !== undefined ? 'key' : 'key_file', record: null };
    if (k.key_file !== undefined) v.key_file = k.key_file;
    if (k.comment) v.comment = k.comment;
    try {
      v.record = dnsRecord(k.selector, signingDomain(k), loadPrivateKey(k));
    } catch (err) {
      v.error = err instanceof Error ? err.message : String(err);
    }
    return v;
  });
}

export interface CheckResult {
  domain: string;
  selector: string;
  name: string;
  /** match: the record publishes this key; mismatch: another key or a broken record; missing: no record; error: the key or DNS failed. */
  status: 'match' | 'mismatch' | 'missing' | 'error';
  reason?: string;
  /** The published text (the TXT strings joined), when there is one. */
  published?: string;
  expected?: string;
}

/** The keys of `domain` (its From domain or its signing domain), optionally of one selector. */
export function keysOf(s: Settings, domain: string, selector?: string): DkimKeyDef[] {
  const d = domainKey(domain);
  return s.dkim.keys.filter((k) => (domainKey(k.domain) === d || signingDomain(k) === d) && (selector === undefined || k.selector === selector));
}

/** Looks each key's record up and compares; `servers` is dns.servers (empty: the system's resolver). */
export async function checkKeys(keys: DkimKeyDef[], servers: readonly string[], timeoutMs = 5000): Promise<CheckResult[]> {
  const r = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length) r.setServers([...servers]);
  return Promise.all(
    keys.map(async (k): Promise<CheckResult> => {
      const name = `${k.selector}._domainkey.${signingDomain(k)}`;
      const base = { domain: k.domain, selector: k.selector, name };
      let priv;
      try {
        priv = loadPrivateKey(k);
      } catch (err) {
        return { ...base, status: 'error', reason: `the configured key: ${err instanceof Error ? err.message : String(err)}` };
      }
      const expected = dnsRecord(k.selector, signingDomain(k), priv).value;
      let answers: string[][];
      try {
        answers = await r.resolveTxt(name);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ENOTFOUND' || code === 'ENODATA') return { ...base, status: 'missing', reason: `no TXT record at ${name}`, expected };
        return { ...base, status: 'error', reason: `DNS: ${code ?? ''} ${err instanceof Error ? err.message : String(err)}`.trim(), expected };
      }
      // Several TXT records at the name: the DKIM one is the one with a p= tag (RFC 6376 §3.6.2.2 joins each record's strings).
      const records = answers.map((parts) => parts.join('')).filter((t) => /(^|;)\s*p\s*=/i.test(t));
      if (records.length === 0) return { ...base, status: 'missing', reason: `no DKIM key record among the TXT records at ${name}`, expected };
      if (records.length > 1) return { ...base, status: 'mismatch', reason: `${records.length} DKIM key records at ${name}: verifiers treat that as an error`, published: records.join(' | '), expected };
      const published = records[0] ?? '';
      const v = compareRecord(published, priv);
      return v.match ? { ...base, status: 'match', published } : { ...base, status: 'mismatch', reason: v.reason, published, expected };
    }),
  );
}
