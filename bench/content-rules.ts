// The cost of the content rules alone, in this process: the check's work
// (src/content/evaluate.ts under the default rules: the walk with mailsplit,
// the matching) on 100 KiB messages read from a file as the spool hands them
// over, CPU time per message after a warm-up, beside reading the file alone.
// A plain text message (the bench's) is read no further than its header; a
// PDF attachment is walked whole; a zip is also opened. "full walk" is what
// a watcher fed while the message is spooled would cost (no early end).
// `node bench/content-rules.ts [--count N]`; prints a markdown table.

import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuUsage } from 'node:process';
import { defaultContent } from '../src/config/content-settings.ts';
import { evaluateMessage } from '../src/content/evaluate.ts';
import { zipOf } from './zip-fixture.ts';

const argv = process.argv.slice(2);
const i = argv.indexOf('--count');
const COUNT = i >= 0 ? Number(argv[i + 1]) : 1000;
const HEAD = 'Received: from client.example ([127.0.0.1]) by mx.bench.invalid; Fri, 4 Dec 2026 17:00:00 +0000\r\nFrom: <a@bench.test>\r\nTo: <b@bench.test>\r\nSubject: bench\r\nMessage-ID: <x@bench.test>\r\n';

function b64(data: Buffer): string {
  return data.toString('base64').replace(/.{76}/g, '$&\r\n');
}


const body = Buffer.alloc(100 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789');
const line = 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n';
const multipart = (type: string, name: string, data: Buffer) =>
  Buffer.from(`${HEAD}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(data)}\r\n--b--\r\n`);
const MESSAGES: [string, Buffer][] = [
  ['plain text 100 KiB', Buffer.from(`${HEAD}\r\n${line.repeat(Math.ceil(102_400 / line.length))}`)],
  ['PDF attachment 100 KiB', multipart('application/pdf', 'report.pdf', body)],
  ['zip attachment 100 KiB', multipart('application/zip', 'docs.zip', zipOf('docs/report.txt', body))],
];

const dir = mkdtempSync(join(tmpdir(), 'bench-content-'));
const settings = defaultContent();
const rows = ['| message | read alone | check (early end) | full walk |', '|---|---|---|---|'];
try {
  for (const [name, msg] of MESSAGES) {
    const file = join(dir, 'm.eml');
    writeFileSync(file, msg);
    const read = async () => {
      for await (const _ of createReadStream(file, { highWaterMark: 65536 })) void _;
    };
    const check = async (early: boolean) => {
      const e = await evaluateMessage(settings, createReadStream(file, { highWaterMark: 65536 }), { relayed: false, ...(early ? { size: msg.length } : {}) });
      if (!e) throw new Error('no rule applied');
    };
    const per = async (fn: () => Promise<void>) => {
      for (let n = 0; n < 100; n++) await fn();
      const c0 = cpuUsage();
      for (let n = 0; n < COUNT; n++) await fn();
      const c = cpuUsage(c0);
      return `${((c.user + c.system) / 1000 / COUNT).toFixed(3)} ms`;
    };
    rows.push(`| ${name} (${msg.length} octets) | ${await per(read)} | ${await per(() => check(true))} | ${await per(() => check(false))} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`Content rules (default rules), CPU per message, ${COUNT} messages per cell, Node ${process.versions.node}\n\n${rows.join('\n')}\n`);
