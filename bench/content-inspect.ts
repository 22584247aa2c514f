// The cost of the content rules alone, in this process: evaluateMessage()
// (what the check src/checks/content-rules.ts runs at the end of DATA) with
// the default rules (executables, archives looked into) over the bench's
// plain messages of 1 KiB and 100 KiB (as smtp-source sends them: no MIME),
// and over a 100 KiB MIME message with a zip attachment; and stripParts()
// removing that attachment (the strip action's rewrite). CPU and wall time
// per message after a warm-up. `node bench/content-inspect.ts [--count N]`;
// prints a markdown table. The end-to-end figure is
// `node bench/run.ts --nocontent` (relay mailwarden-nocontent beside mailwarden).

import { cpuUsage } from 'node:process';
import { defaultContent } from '../src/config/content-settings.ts';
import { evaluateMessage } from '../src/content/evaluate.ts';
import { stripParts } from '../src/content/strip.ts';
import type { MessageSource } from '../src/scan/spam-verdict.ts';
import { zipOf } from './zip-fixture.ts';

const argv = process.argv.slice(2);
const i = argv.indexOf('--count');
const COUNT = i >= 0 ? Number(argv[i + 1]) : 500;

const HEAD = 'Received: from client.example ([127.0.0.1]) by mx.bench.invalid; Fri, 4 Dec 2026 17:00:00 +0000\r\nFrom: a@bench.test\r\nTo: b@far.example\r\nSubject: bench\r\nDate: Fri, 4 Dec 2026 17:00:00 +0000\r\nMessage-ID: <x@bench.test>\r\n';
const LINE = 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n';

function plain(size: number): Buffer {
  const head = HEAD + '\r\n';
  return Buffer.from(head + LINE.repeat(Math.max(1, Math.ceil((size - head.length) / LINE.length))));
}


/** About 100 KiB: a text part and a zip of random-ish octets (incompressible), base64. */
function withZip(): Buffer {
  const data = Buffer.alloc(72 * 1024);
  let x = 1;
  for (let k = 0; k < data.length; k++) data[k] = (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) >>> 24;
  const b64 = (zipOf('report.pdf', data, true).toString('base64').match(/.{1,76}/g) as string[]).join('\r\n');
  return Buffer.from(
    `${HEAD}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n${LINE.repeat(20)}\r\n--b\r\nContent-Type: application/zip; name="report.zip"\r\nContent-Disposition: attachment; filename="report.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b--\r\n`,
  );
}

/** As the spool hands a message over: 64 KiB reads. */
function source(msg: Buffer): MessageSource {
  return {
    size: msg.length,
    async *chunks() {
      for (let k = 0; k < msg.length; k += 65_536) yield msg.subarray(k, k + 65_536);
    },
  };
}

async function measure(label: string, msg: Buffer, run: (m: Buffer) => Promise<void>): Promise<string> {
  for (let n = 0; n < Math.min(100, COUNT); n++) await run(msg);
  const c0 = cpuUsage();
  const t0 = performance.now();
  for (let n = 0; n < COUNT; n++) await run(msg);
  const wall = (performance.now() - t0) / COUNT;
  const c = cpuUsage(c0);
  return `| ${label} | ${(msg.length / 1024).toFixed(1)} KiB | ${((c.user + c.system) / 1000 / COUNT).toFixed(3)} ms | ${wall.toFixed(3)} ms |`;
}

const settings = defaultContent();
const inspect = async (m: Buffer) => {
  const e = await evaluateMessage(settings, source(m).chunks(), { relayed: true });
  if (!e) throw new Error('the default rules did not run');
};
const strip = async (m: Buffer) => {
  let n = 0;
  for await (const b of stripParts(source(m), [{ index: 3, reason: 'bench' }], 'report.zip was removed')) n += b.length;
  if (n === 0 || n >= m.length) throw new Error('nothing stripped');
};

// The zip is opened and its entry listed (else the row would measure less than it says).
const probe = await evaluateMessage(settings, source(withZip()).chunks(), { relayed: true });
if (probe?.inspection.entries.length !== 1) throw new Error(`the zip was not listed: ${JSON.stringify(probe?.inspection.archiveProblems)}`);

const rows = ['| what | message | CPU per message | wall per message |', '|---|---|---|---|'];
rows.push(await measure('inspection, default rules, plain (smtp-source-like)', plain(1024), inspect));
rows.push(await measure('inspection, default rules, plain (smtp-source-like)', plain(102_400), inspect));
rows.push(await measure('inspection, default rules, text + zip attachment', withZip(), inspect));
rows.push(await measure('strip of the zip attachment (rewrite only)', withZip(), strip));
process.stdout.write(`Content rules, ${COUNT} messages per row, Node ${process.versions.node}\n\n${rows.join('\n')}\n`);
