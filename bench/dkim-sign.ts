// The cost of DKIM signing alone, in this process: signMessage() (the step
// the commit runs, src/dkim/signer.ts) over messages of 1 KiB and 100 KiB
// with an RSA 2048 and an Ed25519 key, CPU time per message after a warm-up.
// `node bench/dkim-sign.ts [--count N]`; prints a markdown table. The
// end-to-end figure is `node bench/run.ts --dkim` (relay mailwarden-dkim).

import { cpuUsage } from 'node:process';
import { defaultDkim, type DkimAlgorithm } from '../src/config/document.ts';
import { generateKey } from '../src/dkim/keys.ts';
import { signMessage } from '../src/dkim/signer.ts';

const argv = process.argv.slice(2);
const i = argv.indexOf('--count');
const COUNT = i >= 0 ? Number(argv[i + 1]) : 2000;

function messageOf(size: number): Buffer {
  const head = 'Received: from client.example ([127.0.0.1]) by mx.bench.invalid; Fri, 4 Dec 2026 17:00:00 +0000\r\nFrom: a@bench.test\r\nTo: b@far.example\r\nSubject: bench\r\nDate: Fri, 4 Dec 2026 17:00:00 +0000\r\nMessage-ID: <x@bench.test>\r\n\r\n';
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n';
  return Buffer.from(head + line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length))));
}

const rows: string[] = ['| key | message | CPU per message | wall per message |', '|---|---|---|---|'];
for (const [algorithm, bits] of [['rsa-sha256', 2048], ['ed25519-sha256', 0]] as [DkimAlgorithm, number][]) {
  const dkim = { ...defaultDkim(), keys: [{ domain: 'bench.test', selector: 'b', algorithm, key: generateKey(algorithm, bits) }] };
  for (const size of [1024, 102_400]) {
    const msg = messageOf(size);
    const source = { size: msg.length, chunks: async function* () { yield msg; } };
    const edit = { add: ['X-Spam-Score: 0.0'], remove: [], subjectTag: null };
    for (let n = 0; n < 100; n++) await signMessage(dkim, true, source, edit);
    const c0 = cpuUsage();
    const t0 = performance.now();
    for (let n = 0; n < COUNT; n++) {
      const r = await signMessage(dkim, true, source, edit);
      if (!r.signed) throw new Error(`not signed: ${r.reason}`);
    }
    const wall = (performance.now() - t0) / COUNT;
    const c = cpuUsage(c0);
    rows.push(`| ${algorithm}${bits ? ` ${bits}` : ''} | ${size / 1024} KiB | ${((c.user + c.system) / 1000 / COUNT).toFixed(3)} ms | ${wall.toFixed(3)} ms |`);
  }
}
process.stdout.write(`DKIM signing, ${COUNT} messages per row, Node ${process.versions.node}\n\n${rows.join('\n')}\n`);
