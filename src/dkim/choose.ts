// Which keys sign a message: pure decision on the settings, the envelope's
// kind and the header From. Kept apart from the signing itself so that every
// case is tested without a message.

import type { DkimKeyDef, DkimSettings } from '../config/document.ts';
import { domainKey } from '../address/path.ts';

export type KeyChoice =
  | { sign: true; domain: string; keys: DkimKeyDef[] }
  | { sign: false; reason: 'not_relayed' | 'no_from' | 'several_from' | 'no_key'; domain?: string };

/**
 * Whether this transaction's mail may be signed at all. Only a client that
 * holds a relay right (an allowed host, or a login: a login always carries
 * the authenticated relay right) is ever signed for: inbound Internet mail
 * can say anything in its From, and a signature of ours would vouch for a
 * forgery, so `sign` never reaches it. `relayed` signs such a client's mail
 * when at least one recipient is relayed (not one of our domains); `all` also
 * signs its mail to our own domains only.
 */
export function signable(dkim: DkimSettings, clientRight: boolean, anyRelayedRecipient: boolean): boolean {
  return clientRight && (anyRelayedRecipient || dkim.sign === 'all');
}

/** Whether signing can apply to this transaction at all (before the message is read); `eligible` is signable()'s answer. */
export function wantsSigning(dkim: DkimSettings, eligible: boolean): boolean {
  return dkim.keys.length > 0 && eligible;
}

/**
 * The keys for the From addresses (as header-from.ts reads them) and the
 * number of From fields. One From field holding one mailbox only: with several, DMARC has no single domain to align with and
 * receivers treat the message as suspect anyway. Every key of the chosen
 * domain signs (e.g. an RSA and an Ed25519 key side by side, RFC 8463 §5);
 * the most specific domain wins, a parent domain's keys only with `subdomains`.
 */
export function chooseKeys(dkim: DkimSettings, eligible: boolean, fromAddresses: string[], fromFields = 1): KeyChoice {
  if (!eligible) return { sign: false, reason: 'not_relayed' };
  // Counted by field, not by address: an empty second From adds no address, yet h=from would cover one field only.
  if (fromFields > 1) return { sign: false, reason: 'several_from' };
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
