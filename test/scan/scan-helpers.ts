// Shared by the scanning suites: one SMTP transaction over a raw socket from
// a chosen loopback address (so a test plays an outside sender or a relay
// client), sample messages, and what the relay did with a message (queued,
// quarantined or refused, and its stored bytes).

import { join } from 'node:path';
import { committedIds, spooledMessage } from '../support/spool-files.ts';
import { queuedIds, RawClient, type Relay } from '../smtp/harness.ts';

export interface SendResult {
  /** The reply to the final dot. */
  reply: string;
  id: string | null;
}

/** MAIL, RCPT, DATA, the message (dot-stuffed here), QUIT. Throws if an earlier step is refused. */
export async function sendMessage(port: number, opts: { from?: string; to?: string[]; message: string | Buffer; client?: string }): Promise<SendResult> {
  const c = await RawClient.connect(port, opts.client ?? '127.0.0.1');
  try {
    const expect = async (r: Promise<string | null>, code: string, what: string) => {
      const got = (await r) ?? '(closed)';
      if (!got.startsWith(code)) throw new Error(`${what}: ${got}`);
    };
    await expect(c.reply(), '220', 'greeting');
    await expect(c.cmd('EHLO client.test.example'), '250', 'EHLO');
    await expect(c.cmd(`MAIL FROM:<${opts.from ?? 'sender@outside.example'}>`), '250', 'MAIL');
    for (const to of opts.to ?? ['user@example.com']) await expect(c.cmd(`RCPT TO:<${to}>`), '250', 'RCPT');
    await expect(c.cmd('DATA'), '354', 'DATA');
    const body = typeof opts.message === 'string' ? Buffer.from(opts.message, 'latin1') : opts.message;
    const stuffed = Buffer.from(body.toString('latin1').replace(/^\./gm, '..'), 'latin1');
    // In pieces, as a real client writes a large message: backpressure reaches the scanner.
    for (let i = 0; i < stuffed.length; i += 1 << 20) c.write(stuffed.subarray(i, i + (1 << 20)));
    c.write(stuffed.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n');
    const reply = (await c.reply(120_000)) ?? '(closed)';
    const m = /queued as ([0-9a-z]{16})/.exec(reply);
    await c.cmd('QUIT');
    return { reply, id: m?.[1] ?? null };
  } finally {
    c.end();
  }
}

export function message(body: string, headers: Record<string, string> = {}): string {
  const h = { From: 'sender@outside.example', To: 'user@example.com', Subject: 'test', 'Message-ID': `<${Math.random().toString(36).slice(2)}@outside.example>`, ...headers };
  return Object.entries(h)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('') + `\r\n${body.replace(/\r?\n/g, '\r\n')}${body.endsWith('\n') ? '' : '\r\n'}`;
}

/** A multipart message with one base64 attachment. */
export function withAttachment(name: string, content: Buffer, type = 'application/octet-stream'): string {
  const b64 = content.toString('base64').replace(/.{1,76}/g, '$&\r\n');
  return message(
    `--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--BOUNDARY\r\nContent-Type: ${type}; name="${name}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${name}"\r\n\r\n${b64}--BOUNDARY--\r\n`,
    { 'MIME-Version': '1.0', 'Content-Type': 'multipart/mixed; boundary="BOUNDARY"' },
  );
}

const ids = committedIds;

/** Ids in the queue: the harness's own. */
export const queued = queuedIds;
export const quarantined = (relay: Relay) => ids(join(relay.dataDir, 'spool', 'quarantine'));

/** The stored message (queue or quarantine) as text. */
export function stored(relay: Relay, id: string, area: 'queue' | 'quarantine' = 'queue'): string {
  return spooledMessage(relay.dataDir, id, area).toString('latin1');
}

/** The header section of a stored message. */
export function headerOf(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? text : text.slice(0, end + 2);
}

/** The log line the relay wrote for a message (queued, quarantined, or refused by the scan). */
export function messageLog(relay: Relay, pred: (l: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
  return relay.waitLog((l) => ['queued', 'quarantined', 'scan.refused', 'scan.blackholed'].includes(l.event) && pred(l), 30_000);
}
