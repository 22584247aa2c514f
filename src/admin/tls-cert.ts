// What the web admin shows about a certificate (subject, issuer, expiry,
// self-signed or not), and the checks of an uploaded certificate and key
// before they are stored: PEM that parses, a key that belongs to the
// certificate, a certificate valid now. Pure: no files, no clock of its own.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

export interface CertInfo {
  subject: string;
  issuer: string;
  /** ISO 8601. */
  valid_from: string;
  valid_to: string;
  self_signed: boolean;
  /** SHA-256, colon-separated hex: tells two certificates apart. */
  fingerprint: string;
  /** DNS names and IP addresses from subjectAltName. */
  names: string[];
}

/** The first certificate of a PEM bundle (the leaf), or null when there is none that parses. */
export function parseCert(pem: string | Buffer): X509Certificate | null {
  const text = Buffer.isBuffer(pem) ? pem.toString('utf8') : pem;
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  if (!m) return null;
  try {
    return new X509Certificate(m[0]);
  } catch {
    return null;
  }
}

export function describeCert(c: X509Certificate): CertInfo {
  return {
    subject: oneLine(c.subject),
    issuer: oneLine(c.issuer),
    valid_from: new Date(c.validFrom).toISOString(),
    valid_to: new Date(c.validTo).toISOString(),
    self_signed: c.subject === c.issuer && c.verify(c.publicKey),
    fingerprint: c.fingerprint256,
    names: (c.subjectAltName ?? '')
      .split(',')
      .map((s) => s.trim().replace(/^(DNS|IP Address):/, ''))
      .filter(Boolean),
  };
}

/** "CN=mx.example.com\nO=Example" as "CN=mx.example.com, O=Example". */
function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

export type UploadCheck = { ok: true; cert: X509Certificate; key: KeyObject } | { ok: false; errors: string[] };

/** An uploaded certificate and key, judged as the TLS listeners would need them at `now`. */
export function checkUpload(certPem: string, keyPem: string, now: Date): UploadCheck {
  const errors: string[] = [];
  const cert = parseCert(certPem);
  if (!cert) errors.push('Certificate: not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  let key: KeyObject | null = null;
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(keyPem)) errors.push('Private key: it is encrypted; upload it without a passphrase (the daemon starts unattended)');
  else {
    try {
      key = createPrivateKey(keyPem);
    } catch {
      errors.push('Private key: not a PEM private key (-----BEGIN PRIVATE KEY-----)');
    }
  }
  if (cert) {
    if (new Date(cert.validTo).getTime() <= now.getTime()) errors.push(`Certificate: expired on ${new Date(cert.validTo).toISOString()}`);
    else if (new Date(cert.validFrom).getTime() > now.getTime()) errors.push(`Certificate: not valid before ${new Date(cert.validFrom).toISOString()}`);
    if (key && !cert.checkPrivateKey(key)) errors.push('Private key: it does not belong to this certificate');
  }
  if (errors.length > 0 || !cert || !key) return { ok: false, errors };
  return { ok: true, cert, key };
}
