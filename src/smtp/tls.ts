// The certificate of the TLS listeners: the configured files, or a
// self-signed certificate generated into DATA/tls/ on first start.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  source: string;
}

export async function loadTls(dataDir: string, configured: { cert: string; key: string } | null, hostname: string): Promise<TlsMaterial> {
  if (configured) {
    return { cert: readFileSync(configured.cert), key: readFileSync(configured.key), source: configured.cert };
  }
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const notAfter = new Date(Date.now() + 825 * 86_400_000);
    const pems = await generate([{ name: 'commonName', value: hostname }], {
      keySize: 2048,
      algorithm: 'sha256',
      notAfterDate: notAfter,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 7, ip: '127.0.0.1' }] }],
    });
    writeFileSync(keyPath, pems.private, { mode: 0o600 });
    writeFileSync(certPath, pems.cert, { mode: 0o644 });
  }
  return { cert: readFileSync(certPath), key: readFileSync(keyPath), source: `${certPath} (self-signed)` };
}
