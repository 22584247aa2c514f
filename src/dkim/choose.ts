// Which keys sign a message: pure decision on the settings, the envelope's
// kind and the header From. Kept apart from the signing itself so that every
// case is tested without a message.

import type { DkimKeyDef, DkimSettings } from '../config/document.ts';
import { domainKey } from '../address/path.ts';

export type KeyChoice =
  | { sign: true; domain: string; keys: DkimKeyDef[] }
  | { sign: false; reason: 'not_relayed' | 'no_from' | 'several_from' | 'no_key'; domain?: string };

/** Whether signing can apply to this transaction at all (before the message is read). */
export function wantsSigning(dkim: DkimSettings, relayed: boolean): boolean {
  return dkim.keys.length > 0 && (relayed || dkim.sign === 'all');
}

/**
 * The keys for the From addresses (as header-from.ts reads them). One From
 * mailbox only: with several, DMARC has no single domain to align with and
 * receivers treat the message as suspect anyway. Every key of the chosen
 * domain signs (e.g. an RSA and an Ed25519 key side by side, RFC 8463 §5);
 * the most specific domain wins, a parent domain's keys only with `subdomains`.
 */
export function chooseKeys(dkim: DkimSettings, relayed: boolean, fromAddresses: string[]): KeyChoice {
  if (!relayed && dkim.sign !== 'all') return { sign: false, reason: 'not_relayed' };
  if (fromAddresses.length === 0) return { sign: false, reason: 'no_from' };
  if (fromAddresses.length > 1) return { sign: false, reason: 'several_from' };
  const address = fromAddresses[0] ?? '';
  const at = address.lastIndexOf('@');
  if (at < 1 || at === address.length - 1) return { sign: false, reason: 'no_from' };
  const domain = domainKey(address.slice(at + 1));
  for (let d = domain; d.includes('.') || d === domain; d = d.slice(d.indexOf('.') + 1)) {
    const keys = dkim.keys.filter((k) => domainKey(k.domain) === d);
    if (keys.length > 0 && (d === domain || dkim.subdomains)) return { sign: true, domain: d, keys };
    if (!d.includes('.')) break;
  }
  return { sign: false, reason: 'no_key', domain };
}
