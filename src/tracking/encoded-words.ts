// A header value as a person reads it, for the tracking search: RFC 2047
// encoded words (=?UTF-8?B?...?=, =?ISO-8859-1?Q?...?=) decoded, and raw
// UTF-8 (SMTPUTF8 mail) read as UTF-8 rather than as the Latin-1 the header
// collector hands over. An encoded word in a charset we cannot decode stays
// as written.

const WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

function decodeOne(charset: string, encoding: string, text: string): string | null {
  const cs = charset.replace(/\*.*$/, ''); // RFC 2231 language suffix
  let bytes: Buffer;
  if (encoding === 'b' || encoding === 'B') bytes = Buffer.from(text, 'base64');
  else bytes = Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  try {
    return new TextDecoder(cs).decode(bytes);
  } catch {
    return null;
  }
}

/** `value` as collected (octets as Latin-1 characters), decoded. */
export function decodeWords(value: string): string {
  let s = value;
  // Octets above 127 outside encoded words: UTF-8 when they are valid UTF-8.
  if (/[\x80-\xff]/.test(s)) {
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(s, 'latin1'));
    } catch {
      // not UTF-8: left as Latin-1
    }
  }
  // Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
  s = s.replace(/(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)/g, '$1');
  return s.replace(WORD, (whole, charset: string, enc: string, text: string) => decodeOne(charset, enc, text) ?? whole);
}
