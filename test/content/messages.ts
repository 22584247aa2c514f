// Test messages for the content rules, from two independent MIME writers:
// nodemailer's MIME composer and Python's `email` package (make_message.py,
// which also builds the zip archives with Python's zipfile).

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { MessageSource } from '../../src/scan/spam-verdict.ts';

const SCRIPT = join(import.meta.dirname, 'make_message.py');

export interface ZipSpec {
  entries: ({ name: string; stored?: boolean } & ({ text?: string } | { zip: ZipSpec } | { zeros: number }))[];
  encrypted?: boolean;
  truncate?: number;
}

export interface PyAttachment {
  filename: string;
  type?: string;
  style?: 'plain' | 'rfc2231' | 'rfc2231-continued' | 'rfc2047-name' | 'differ';
  type_name?: string;
  text?: string;
  zip?: ZipSpec;
  zeros?: number;
}

export interface PySpec {
  from?: string;
  to?: string;
  subject?: string;
  headers?: Record<string, string>;
  text?: string;
  attachments?: PyAttachment[];
}

/** A message written by Python's email package (policy SMTP: CRLF). */
export function pyMessage(spec: PySpec): Buffer {
  return execFileSync('python3', [SCRIPT, 'eml'], { input: JSON.stringify(spec), maxBuffer: 512 * 1024 * 1024 });
}

/** A zip archive written by Python's zipfile. */
export function pyZip(spec: ZipSpec): Buffer {
  return execFileSync('python3', [SCRIPT, 'zip'], { input: JSON.stringify(spec), maxBuffer: 512 * 1024 * 1024 });
}

/** A message written by nodemailer's MIME composer. */
export async function composed(mail: Record<string, unknown>): Promise<Buffer> {
  const c = new MailComposer({ from: 'sender@example.org', to: 'user@example.com', subject: 'test', text: 'Hello.', ...mail });
  return await new Promise<Buffer>((resolve, reject) => c.compile().build((err: Error | null, m: Buffer) => (err ? reject(err) : resolve(m))));
}

/** A message as the checks read it (the writer's contents()). */
export function sourceOf(buf: Buffer, chunk = 65536): MessageSource {
  return {
    size: buf.length,
    async *chunks() {
      for (let i = 0; i < buf.length; i += chunk) yield buf.subarray(i, i + chunk);
    },
  };
}
