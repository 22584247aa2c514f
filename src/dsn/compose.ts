// Delivery status notifications (RFC 3464, RFC 3461, RFC 6533 for SMTPUTF8):
// one multipart/report message per message and kind (failure, delay,
// success), with a readable text part, the machine-readable status part and
// the original headers (or the whole message when the sender asked RET=FULL
// and it is small enough). Pure: the caller supplies the original text.

import { randomBytes } from 'node:crypto';
import { cleanText } from '../delivery/outcome.ts';
import type { BounceType } from '../queue/envelope.ts';

export interface DsnRecipient {
  address: string;
  orcpt?: string | undefined;
  /** failed | delayed | delivered | relayed | expanded (RFC 3464 2.3.3). */
  action: 'failed' | 'delayed' | 'delivered' | 'relayed';
  status: string;
  remote?: string | null | undefined;
  diagnostic?: string | null | undefined;
  /**
   * RFC 3464 §2.3.6 diagnostic type: `smtp` only when the diagnostic is a next
   * hop's SMTP reply; our own words (connection refused, no MX, expired) are
   * `x-mailwarden`. Default: x-mailwarden.
   */
  diagnosticType?: 'smtp' | 'x-mailwarden' | undefined;
  lastAttempt?: Date | null | undefined;
  willRetryUntil?: Date | null | undefined;
}

export interface DsnInput {
  type: BounceType;
  hostname: string;
  queueId: string;
  envid: string | null;
  arrival: Date;
  now: Date;
  recipients: DsnRecipient[];
  /** The original message's sender, to whom this goes ('' never gets here). */
  to: string;
  /** The original header section (CRLF line ends, without the blank line). */
  originalHeaders: Buffer;
  /** The whole original message, when it is to be returned (RET=FULL and small enough). */
  originalMessage: Buffer | null;
}

export function rfc5322Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

const nonAscii = (s: string) => /[^\x00-\x7f]/.test(s);

/** At most `max` UTF-8 octets, never cutting a character in half. */
function octetCap(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = '';
  let n = 0;
  for (const ch of s) {
    n += Buffer.byteLength(ch);
    if (n > max) break;
    out += ch;
  }
  return out;
}

/** Field values: one line, no controls, short enough that the line stays under 998 octets. */
function field(s: string): string {
  return octetCap(s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim(), 900);
}

/** "name [ip]:port" or "[ip]:port" → the name, or the address literal "[ip]" (RFC 3464 2.3.5: a dns name, no port). */
function remoteName(remote: string): string {
  const named = /^([^\s[]+) \[/.exec(remote);
  if (named?.[1]) return named[1];
  const literal = /^\[([^\]]+)\]/.exec(remote);
  return literal?.[1] ? `[${literal[1]}]` : remote;
}

/** Address type per RFC 3464 / RFC 6533: rfc822 for ASCII, utf-8 otherwise. */
function typed(address: string): string {
  return `${nonAscii(address) ? 'utf-8' : 'rfc822'}; ${field(address)}`;
}

const SUBJECT: Record<BounceType, string> = {
  failure: 'Undelivered Mail Returned to Sender',
  delay: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
};

function intro(input: DsnInput): string {
  const lines: string[] = [`This is the mail system at host ${input.hostname}.`, ''];
  if (input.type === 'failure') {
    lines.push("I'm sorry to have to inform you that your message could not", 'be delivered to one or more recipients. It is attached below.');
  } else if (input.type === 'delay') {
    lines.push('Your message could not be delivered yet to one or more recipients.', 'Delivery will be retried; you do not need to resend it.');
  } else {
    lines.push('Your message was successfully delivered to the destination(s)', 'listed below.');
  }
  lines.push('', `Queue id: ${input.queueId}`, '');
  for (const r of input.recipients) {
    lines.push(`<${field(r.address)}>: ${r.action}${r.remote ? ` (${field(r.remote)})` : ''}`);
    if (r.diagnostic) lines.push(`    ${field(cleanText(r.diagnostic))}`);
    if (r.willRetryUntil) lines.push(`    Will retry until ${rfc5322Date(r.willRetryUntil)}`);
  }
  return lines.join('\r\n') + '\r\n';
}

function statusPart(input: DsnInput): string {
  const lines = [`Reporting-MTA: dns; ${input.hostname}`, `X-Mailwarden-Queue-ID: ${input.queueId}`];
  if (input.envid) lines.push(`Original-Envelope-Id: ${field(input.envid)}`);
  lines.push(`Arrival-Date: ${rfc5322Date(input.arrival)}`);
  for (const r of input.recipients) {
    lines.push('');
    if (r.orcpt) lines.push(`Original-Recipient: ${field(r.orcpt)}`);
    lines.push(`Final-Recipient: ${typed(r.address)}`, `Action: ${r.action}`, `Status: ${r.status}`);
    if (r.remote) lines.push(`Remote-MTA: dns; ${field(remoteName(r.remote))}`);
    if (r.diagnostic) lines.push(`Diagnostic-Code: ${r.diagnosticType === 'smtp' ? 'smtp' : 'x-mailwarden'}; ${field(cleanText(r.diagnostic))}`);
    if (r.lastAttempt) lines.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`);
    if (r.willRetryUntil) lines.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
  }
  return lines.join('\r\n') + '\r\n';
}

/** The whole notification, CRLF throughout. */
export function composeDsn(input: DsnInput): Buffer {
  // RFC 2046 5.1.1: at most 70 characters, so no hostname in it.
  const boundary = `=_mw.${input.queueId}.${randomBytes(6).toString('hex')}`;
  const utf8 = nonAscii(input.to) || input.recipients.some((r) => nonAscii(r.address) || nonAscii(r.orcpt ?? ''));
  const msgId = `<${input.queueId}.${input.type}.${randomBytes(4).toString('hex')}@${input.hostname}>`;
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.hostname}>`,
    `To: <${input.to}>`,
    `Subject: ${SUBJECT[input.type]}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: ${msgId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=${utf8 ? 'global-delivery-status' : 'delivery-status'};`,
    `\tboundary="${boundary}"`,
    'Content-Transfer-Encoding: 8bit',
    '',
    'This is a MIME-encapsulated message.',
    '',
  ].join('\r\n');
  const returned = input.originalMessage
    ? [`Content-Type: ${utf8 ? 'message/global' : 'message/rfc822'}`, 'Content-Transfer-Encoding: 8bit', '', ''].join('\r\n')
    : [`Content-Type: ${utf8 ? 'message/global-headers' : 'text/rfc822-headers'}`, 'Content-Transfer-Encoding: 8bit', '', ''].join('\r\n');
  const original = input.originalMessage ?? input.originalHeaders;
  const parts = [
    Buffer.from(head + '\r\n'),
    Buffer.from(`--${boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${intro(input)}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Description: Delivery report\r\nContent-Type: ${utf8 ? 'message/global-delivery-status' : 'message/delivery-status'}\r\n\r\n${statusPart(input)}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Description: ${input.originalMessage ? 'Undelivered Message' : 'Undelivered Message Headers'}\r\n${returned}`),
    original,
    Buffer.from(original.length && !original.subarray(-2).equals(Buffer.from('\r\n')) ? '\r\n' : ''),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ];
  return Buffer.concat(parts);
}
