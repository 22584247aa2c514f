// Our Received header (RFC 5321 4.4, RFC 5322 3.6.7), prepended to every
// accepted message. It names the listener, the TLS in use and, for an
// authenticated client, that it authenticated, never the password. The text
// is meant to be written as UTF-8 (an SMTPUTF8 recipient stays as it came).
// The WITH protocol type is RFC 3848's (ESMTP, ESMTPS, ESMTPA, ESMTPSA), or
// RFC 6531 3.7.3's for an SMTPUTF8 transaction (UTF8SMTP, UTF8SMTPS,
// UTF8SMTPA, UTF8SMTPSA): a reader of the header learns that the addresses in
// it may be UTF-8.

import { domainToASCII } from 'node:url';

export interface ReceivedFacts {
  helo: string;
  clientAddress: string;
  hostname: string;
  listener: string;
  id: string;
  tls: { protocol: string; cipher: string } | null;
  authenticated: boolean;
  /** The transaction used SMTPUTF8 (MAIL FROM ... SMTPUTF8). */
  smtputf8: boolean;
  /** The single recipient, when there is exactly one. */
  recipient: string | null;
  date: Date;
}

/** Keeps client-supplied text from breaking the header: printable ASCII, no parentheses. */
function clean(text: string, max: number): string {
  const s = text.replace(/[^\x21-\x7e]/g, '?').replace(/[()\\]/g, '?');
  return s.length > max ? s.slice(0, max) + '...' : s || 'unknown';
}

/**
 * An SMTPUTF8 address stays readable (the header is written as UTF-8), but no
 * control character, line separator or angle bracket gets through.
 */
/**
 * A recipient with an ASCII local part is written with its domain as an
 * A-label: the header then stays 7-bit and can travel to a next hop without
 * SMTPUTF8, as the address itself does. A UTF-8 local part stays as it came
 * (such a recipient needs SMTPUTF8 anyway).
 */
function asciiWhereItCanBe(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0 || /[^\x00-\x7f]/.test(address.slice(0, at)) || !/[^\x00-\x7f]/.test(address.slice(at + 1))) return address;
  const ace = domainToASCII(address.slice(at + 1));
  return ace ? `${address.slice(0, at)}@${ace}` : address;
}

function cleanAddress(address: string): string {
  return asciiWhereItCanBe(address).replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029<>]/g, '?').slice(0, 512);
}

function rfc5322Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function receivedHeader(f: ReceivedFacts): string {
  const proto = `${f.smtputf8 ? 'UTF8SMTP' : 'ESMTP'}${f.tls ? 'S' : ''}${f.authenticated ? 'A' : ''}`;
  const addr = f.clientAddress.includes(':') ? `IPv6:${f.clientAddress}` : f.clientAddress;
  const tls = f.tls ? ` (${clean(f.tls.protocol, 16)} ${clean(f.tls.cipher, 64)})` : '';
  const auth = f.authenticated ? ' (authenticated sender)' : '';
  const forPart = f.recipient ? `\r\n\tfor <${cleanAddress(f.recipient)}>` : '';
  return (
    `Received: from ${clean(f.helo, 255)} ([${addr}])\r\n` +
    `\tby ${f.hostname} (mailwarden, listener ${clean(f.listener, 64)}) with ${proto} id ${f.id}${tls}${auth}${forPart};\r\n` +
    `\t${rfc5322Date(f.date)}\r\n`
  );
}
