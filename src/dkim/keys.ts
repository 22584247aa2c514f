// DKIM keys as the signer and the administrator see them: loading a key
// (inline PEM or key_file) into a KeyObject, the DNS TXT record that
// publishes its public half (name and value), generating a new key pair, and
// comparing a published record with the configured key. No DNS here.

import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import type { DkimAlgorithm, DkimKeyDef } from '../config/document.ts';

/** The algorithm's key type, as node:crypto names it. */
export function keyType(algorithm: DkimAlgorithm): 'rsa' | 'ed25519' {
  return algorithm === 'ed25519-sha256' ? 'ed25519' : 'rsa';
}

/** The private key of a definition; throws with a reason an administrator can act on. */
export function loadPrivateKey(def: DkimKeyDef): KeyObject {
  const pem = def.key ?? (def.key_file ? readFileSync(def.key_file, 'utf8') : null);
  if (pem === null) throw new Error('neither key nor key_file is set');
  return parsePrivateKey(pem, def.algorithm);
}

/** Why a key file cannot sign with `algorithm` (missing, unreadable, not PEM, the wrong type), or null when it can. */
export function keyFileProblem(file: string, algorithm: DkimAlgorithm): string | null {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'does not exist (yet)';
    if (code === 'EACCES' || code === 'EPERM') return 'cannot be read by this process (the daemon may still read it if it runs as another user)';
    return `cannot be read (${err instanceof Error ? err.message : String(err)})`;
  }
  try {
    parsePrivateKey(pem, algorithm);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The configured keys that cannot sign (logged as dkim.key_error at start and at each new revision). */
export function unusableKeys(dkim: { keys: DkimKeyDef[] }): { domain: string; selector: string; file: string | null; reason: string }[] {
  const out: { domain: string; selector: string; file: string | null; reason: string }[] = [];
  for (const k of dkim.keys) {
    let reason: string | null;
    if (k.key_file !== undefined) reason = keyFileProblem(k.key_file, k.algorithm);
    else {
      try {
        loadPrivateKey(k);
        reason = null;
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
    }
    if (reason !== null) out.push({ domain: k.domain, selector: k.selector, file: k.key_file ?? null, reason });
  }
  return out;
}

/** A PEM private key checked against the algorithm it is meant for. */
export function parsePrivateKey(pem: string, algorithm: DkimAlgorithm): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`not a PEM private key (${err instanceof Error ? err.message : String(err)})`);
  }
  const want = keyType(algorithm);
  if (key.asymmetricKeyType !== want) throw new Error(`a ${key.asymmetricKeyType ?? 'unknown'} key, but algorithm ${algorithm} needs an ${want} key`);
  // RFC 8301 §3.2: verifiers refuse RSA keys under 1024 bits.
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (want === 'rsa' && bits !== undefined && bits < 1024) throw new Error(`an RSA key of ${bits} bits: at least 1024 are needed (2048 advised)`);
  return key;
}

/**
 * The p= value: base64 of the SubjectPublicKeyInfo for RSA (RFC 6376 §3.6.1),
 * the raw 32-octet public key for Ed25519 (RFC 8463 §4.2).
 */
export function publicKeyValue(priv: KeyObject): string {
  const pub = createPublicKey(priv);
  const der = pub.export({ format: 'der', type: 'spki' });
  // An Ed25519 SPKI is a fixed 12-octet prefix followed by the key itself.
  return (priv.asymmetricKeyType === 'ed25519' ? der.subarray(der.length - 32) : der).toString('base64');
}

export interface DnsRecord {
  /** selector._domainkey.domain */
  name: string;
  type: 'TXT';
  value: string;
}

/** The record to publish for a key; `domain` is the signing domain (d=). */
export function dnsRecord(selector: string, domain: string, priv: KeyObject): DnsRecord {
  const k = priv.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'rsa';
  return { name: `${selector}._domainkey.${domain}`, type: 'TXT', value: `v=DKIM1; k=${k}; p=${publicKeyValue(priv)}` };
}

/** The domain a key's signatures carry in d=. */
export function signingDomain(def: DkimKeyDef): string {
  return (def.signing_domain ?? def.domain).toLowerCase();
}

/** A new private key in PKCS#8 PEM. */
export function generateKey(algorithm: DkimAlgorithm, bits: number): string {
  if (keyType(algorithm) === 'ed25519') return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** generateKey() off the event loop (the daemon's API: a 4096-bit RSA key takes seconds). */
export async function generateKeyAsync(algorithm: DkimAlgorithm, bits: number): Promise<string> {
  const gen = promisify(generateKeyPair);
  const pair = keyType(algorithm) === 'ed25519' ? await gen('ed25519') : await gen('rsa', { modulusLength: bits });
  return pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The tags of a DKIM key record (RFC 6376 §3.6.1): names lower-cased, white space removed from values. */
export function parseRecord(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return tags;
}

export type RecordVerdict = { match: true } | { match: false; reason: string };

/** Whether a published record (its TXT strings joined) publishes this key. */
export function compareRecord(published: string, priv: KeyObject): RecordVerdict {
  const tags = parseRecord(published);
  const v = tags.get('v');
  if (v !== undefined && v !== 'DKIM1') return { match: false, reason: `v=${v}, not DKIM1` };
  const p = tags.get('p');
  if (p === undefined) return { match: false, reason: 'the record has no p= tag' };
  if (p === '') return { match: false, reason: 'the key is revoked (empty p=)' };
  const want = priv.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'rsa';
  const k = tags.get('k') ?? 'rsa';
  if (k !== want) return { match: false, reason: `k=${k}, but the configured key is ${want}` };
  if (p !== publicKeyValue(priv)) return { match: false, reason: 'p= is another public key than the configured one' };
  return { match: true };
}
