// The Subject of a stored message as a person reads it: taken from the header
// section (unfolded), RFC 2047 encoded words decoded (libmime), control
// characters dropped, at most 998 characters. For the digest and the user
// portal, which show it to the recipient.

import { createRequire } from 'node:module';

const libmime = createRequire(import.meta.url)('libmime') as { decodeWords(s: string): string };

/** At most this many characters of a Subject are kept (RFC 5322's line length). */
export const SUBJECT_MAX = 998;

/** The decoded Subject of a header section, or null when it has none. */
export function subjectOf(headers: Buffer): string | null {
  const text = headers.toString('latin1');
  const m = /(?:^|\r?\n)subject[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/i.exec(text);
  if (!m) return null;
  // Raw 8-bit headers (SMTPUTF8) are UTF-8: read them as such before decoding the encoded words.
  const raw = Buffer.from((m[1] ?? '').replace(/\r?\n(?=[ \t])/g, ''), 'latin1').toString('utf8').trim();
  let decoded: string;
  try {
    decoded = libmime.decodeWords(raw);
  } catch {
    decoded = raw;
  }
  // eslint-disable-next-line no-control-regex
  return decoded.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '').slice(0, SUBJECT_MAX);
}
