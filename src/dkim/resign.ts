// Signing again after the 8BITMIME→7bit conversion at delivery
// (src/delivery/downgrade.ts re-encodes 8-bit parts for a hop without
// 8BITMIME, which changes the body and Content-Transfer-Encoding: every
// signature over them breaks). Our own signatures (the DKIM-Signature fields
// on top of the stored message whose d= and s= are one of our keys) are
// dropped and the converted message is signed afresh, as RFC 6376 §5.3
// expects of a signer whose mail may be converted. Signatures of others stay
// (broken: they are not ours to remove). Two passes over the conversion: one
// to sign, one to send; only mail that is signed and converted pays them.

import { Readable } from 'node:stream';
import type { DkimSettings } from '../config/document.ts';
import { splitFields } from '../scan/header-edit.ts';
import { parseRecord, signingDomain } from './keys.ts';
import { signMessage, type SignResult } from './signer.ts';

/** How far into the message our signatures are looked for: they are the first fields, a few hundred octets each. */
const LOOK = 64 * 1024;

/** The message without the DKIM-Signature fields of our keys at its top. */
export async function* dropOurSignatures(source: AsyncIterable<Buffer>, dkim: DkimSettings): AsyncGenerator<Buffer> {
  const ours = new Set(dkim.keys.map((k) => `${k.selector}|${signingDomain(k)}`));
  const parts: Buffer[] = [];
  let got = 0;
  const it = source[Symbol.asyncIterator]();
  while (got < LOOK) {
    const r = await it.next();
    if (r.done) break;
    parts.push(r.value);
    got += r.value.length;
  }
  const head = Buffer.concat(parts, got);
  let end = head.indexOf('\r\n\r\n');
  end = end < 0 ? head.length : end + 2;
  const fields = splitFields(head.subarray(0, end).toString('latin1'));
  let skip = 0;
  for (const f of fields) {
    const colon = f.indexOf(':');
    if (colon < 0 || f.slice(0, colon).trim().toLowerCase() !== 'dkim-signature') break;
    const tags = parseRecord(f.slice(colon + 1));
    if (!ours.has(`${tags.get('s') ?? ''}|${(tags.get('d') ?? '').toLowerCase()}`)) break;
    skip += Buffer.byteLength(f, 'latin1');
  }
  try {
    yield head.subarray(skip);
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    // A consumer that stops early (an error on the way out) closes the conversion too.
    await it.return?.();
  }
}

/**
 * The converted message to send: `convert()` gives a fresh conversion each
 * call. Null when no key is configured (the caller sends the conversion as it is).
 */
export async function resignConverted(dkim: DkimSettings, eligible: boolean, convert: () => Readable): Promise<{ stream: Readable; result: SignResult } | null> {
  if (dkim.keys.length === 0) return null;
  const result = await signMessage(dkim, eligible, { size: 0, chunks: () => dropOurSignatures(convert(), dkim) }, undefined);
  async function* out(): AsyncGenerator<Buffer> {
    if (result.signed) yield Buffer.from(`${result.field}\r\n`, 'latin1');
    yield* dropOurSignatures(convert(), dkim);
  }
  return { stream: Readable.from(out(), { objectMode: false }), result };
}
