// An independent DKIM signer and ARC sealer for the DMARC tests: Debian's
// python3-dkim (dkimpy), run as /usr/bin/python3, so that what our verifier
// (mailauth) accepts is a signature somebody else made. Keys are made here
// with node's crypto and published by the test through the DNS server as the
// records keyRecord() gives.

import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { missingComponent } from '../support/requires.ts';

const PYTHON = '/usr/bin/python3';

const SCRIPT = String.raw`
import sys, dkim
mode, selector, domain, keyfile, algo = sys.argv[1:6]
msg = sys.stdin.buffer.read()
key = open(keyfile, 'rb').read()
heads = [b'from', b'to', b'subject', b'date', b'message-id']
if mode == 'sign':
    out = dkim.sign(msg, selector.encode(), domain.encode(), key, signature_algorithm=algo.encode(), include_headers=heads)
else:
    out = b''.join(dkim.arc_sign(msg, selector.encode(), domain.encode(), key, sys.argv[6].encode(), include_headers=heads))
sys.stdout.buffer.write(out + msg)
`;

/** A reason to skip when dkimpy is missing; false when it is there. */
export function dkimpyMissing(): string | false {
  try {
    accessSync(PYTHON, constants.X_OK);
  } catch {
    return missingComponent('python3-dkim', `${PYTHON} is not installed`);
  }
  const r = spawnSync(PYTHON, ['-c', 'import dkim, nacl, authres'], { encoding: 'utf8' });
  return r.status === 0 ? false : missingComponent('python3-dkim', `python3 cannot import dkim, nacl and authres (Debian python3-dkim, python3-authres): ${r.stderr}`);
}

export interface DkimKey {
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  /** The private key as dkimpy reads it (PEM for RSA, the base64 seed for ed25519). */
  private: string;
  /** The TXT record to publish at SELECTOR._domainkey.DOMAIN. */
  record: string;
}

export function makeKey(algorithm: DkimKey['algorithm'] = 'rsa-sha256'): DkimKey {
  if (algorithm === 'rsa-sha256') {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    return { algorithm, private: pem, record: `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}` };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const b64 = (u: string | undefined) => Buffer.from(u ?? '', 'base64url').toString('base64');
  return { algorithm, private: b64(privateKey.export({ format: 'jwk' }).d), record: `v=DKIM1; k=ed25519; p=${b64(publicKey.export({ format: 'jwk' }).x)}` };
}

function run(args: string[], keyFile: string, message: string): string {
  const r = spawnSync(PYTHON, ['-c', SCRIPT, args[0]!, args[1]!, args[2]!, keyFile, ...args.slice(3)], { input: Buffer.from(message, 'latin1') });
  if (r.status !== 0) throw new Error(`dkimpy ${args[0]} failed: ${r.stderr.toString()}`);
  return r.stdout.toString('latin1');
}

/** The message with a DKIM-Signature by dkimpy on top. `keyFile` holds key.private. */
export function dkimpySign(message: string, o: { selector: string; domain: string; keyFile: string; algorithm: DkimKey['algorithm'] }): string {
  return run(['sign', o.selector, o.domain, o.algorithm], keyFile(o), message);
}

/** The message with an ARC set by dkimpy on top (it needs an Authentication-Results field of `authservId`). */
export function dkimpyArcSeal(message: string, o: { selector: string; domain: string; keyFile: string; authservId: string }): string {
  return run(['arc', o.selector, o.domain, 'rsa-sha256', o.authservId], keyFile(o), message);
}

function keyFile(o: { keyFile: string }): string {
  return o.keyFile;
}
