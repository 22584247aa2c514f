// A small SMTP client of our own (node:net), run by the harness as a child
// process so that its timing is not disturbed by the harness's sampling.
// Every mode is bounded in count and in time, talks to 127.0.0.x only, and
// prints one JSON line with its result on stdout.
//
//   node bench/client.ts latency --port P [--sessions 20] [--count 2000] [--warmup 200] [--size 1024] [--timeout-ms 120000]
//       Messages over `sessions` connections that are reused; for each, the
//       time from writing the final "\r\n.\r\n" to reading the 250 line.
//   node bench/client.ts idle --port P [--count 1000] [--per-source 50] [--timeout-ms 60000]
//       Opens `count` connections from 127.0.0.2, 127.0.0.3, ... (`per-source`
//       each), waits for every greeting, prints the result, then holds them
//       open until it is stopped (or the time limit).
//   node bench/client.ts big --port P [--bytes 50000000] [--timeout-ms 180000]
//       One message whose body is `bytes` octets, streamed with backpressure.

import { connect, type Socket } from 'node:net';
import { percentile } from './lib/stats.ts';

const [mode, ...rest] = process.argv.slice(2);
const opts = new Map<string, string>();
for (let i = 0; i + 1 < rest.length; i += 2) opts.set(rest[i]!.replace(/^--/, ''), rest[i + 1]!);
const num = (k: string, d: number) => (opts.has(k) ? Number(opts.get(k)) : d);
const port = num('port', 0);
const timeoutMs = num('timeout-ms', 120_000);

const hardStop = setTimeout(() => {
  out({ error: `time limit of ${timeoutMs} ms reached` });
  process.exit(3);
}, timeoutMs);

function out(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

interface Reply { code: number; text: string }

/** One SMTP connection: complete replies (multi-line joined) in order. */
class Conn {
  readonly sock: Socket;
  private buf = '';
  private lines: string[] = [];
  private replies: Reply[] = [];
  private waiting: ((r: Reply) => void) | undefined;
  private failed: ((e: Error) => void) | undefined;
  error: Error | undefined;

  constructor(sock: Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(localAddress?: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, localAddress });
      s.once('connect', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  private fail(e: Error): void {
    if (!this.error) this.error = e;
    const f = this.failed;
    this.waiting = undefined;
    this.failed = undefined;
    f?.(e);
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      this.lines.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const r = { code: Number(line.slice(0, 3)), text: this.lines.join('\n') };
        this.lines = [];
        const w = this.waiting;
        if (w) { this.waiting = undefined; this.failed = undefined; w(r); } else this.replies.push(r);
      }
    }
  }

  reply(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => { this.waiting = resolve; this.failed = reject; });
  }

  async command(line: string, expect: number): Promise<Reply> {
    this.sock.write(line + '\r\n');
    const r = await this.reply();
    if (r.code !== expect) throw new Error(`${line.split(' ')[0]} -> ${r.text}`);
    return r;
  }

  close(): void {
    this.sock.end('QUIT\r\n');
    setTimeout(() => this.sock.destroy(), 500).unref();
  }
}

function message(bodyBytes: number, id: number): string {
  const head = `From: <a@bench.test>\r\nTo: <b@bench.test>\r\nSubject: bench ${id}\r\nMessage-ID: <${id}.${process.pid}@bench.test>\r\n\r\n`;
  const line = 'x'.repeat(76) + '\r\n';
  let body = line.repeat(Math.floor(bodyBytes / line.length));
  const left = bodyBytes - body.length;
  if (left >= 3) body += 'y'.repeat(left - 2) + '\r\n';
  return head + body;
}

async function latency(): Promise<void> {
  const sessions = num('sessions', 20);
  const count = num('count', 2000);
  const warmup = num('warmup', 200);
  const size = num('size', 1024);
  const total = count + warmup;
  let taken = 0;
  const samples: number[] = [];
  const errors: string[] = [];
  const body = message(size, 0).replace(/\r\n$/, ''); // the terminator adds the last CRLF
  const worker = async () => {
    const c = await Conn.open();
    try {
      const g = await c.reply();
      if (g.code !== 220) throw new Error(`greeting ${g.text}`);
      await c.command('EHLO bench.test', 250);
      while (taken < total) {
        const i = taken++;
        await c.command('MAIL FROM:<a@bench.test>', 250);
        await c.command('RCPT TO:<b@bench.test>', 250);
        await c.command('DATA', 354);
        c.sock.write(body);
        const t0 = performance.now();
        c.sock.write('\r\n.\r\n');
        const r = await c.reply();
        const ms = performance.now() - t0;
        if (r.code !== 250) throw new Error(`end of data -> ${r.text}`);
        if (i >= warmup) samples.push(ms);
      }
      c.close();
    } catch (e) {
      errors.push((e as Error).message);
      c.sock.destroy();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: sessions }, worker));
  const seconds = (performance.now() - t0) / 1000;
  out({ count: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max: Math.max(...samples), seconds, errors: errors.slice(0, 5), errorCount: errors.length });
}

async function idle(): Promise<void> {
  const count = num('count', 1000);
  const perSource = num('per-source', 50);
  const conns: Conn[] = [];
  const codes = new Map<string, number>();
  const failures: string[] = [];
  const batch = 50;
  for (let start = 0; start < count; start += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - start) }, async (_, k) => {
      const i = start + k;
      const src = `127.0.0.${2 + Math.floor(i / perSource)}`;
      try {
        const c = await Conn.open(src);
        conns.push(c);
        const g = await c.reply();
        const key = String(g.code);
        codes.set(key, (codes.get(key) ?? 0) + 1);
      } catch (e) {
        failures.push(`${src}: ${(e as Error).message}`);
      }
    }));
  }
  const open = conns.filter((c) => !c.error).length;
  out({ greeted: codes.get('220') ?? 0, open, codes: Object.fromEntries(codes), failures: failures.slice(0, 5), failureCount: failures.length });
  // hold them open until stopped; the hard time limit still applies
  process.on('SIGTERM', () => { for (const c of conns) c.sock.destroy(); clearTimeout(hardStop); process.exit(0); });
}

async function big(): Promise<void> {
  const bytes = num('bytes', 50_000_000);
  const c = await Conn.open();
  const t0 = performance.now();
  const g = await c.reply();
  if (g.code !== 220) throw new Error(`greeting ${g.text}`);
  await c.command('EHLO bench.test', 250);
  await c.command(`MAIL FROM:<a@bench.test> SIZE=${bytes + 200}`, 250);
  await c.command('RCPT TO:<b@bench.test>', 250);
  await c.command('DATA', 354);
  const head = 'From: <a@bench.test>\r\nTo: <b@bench.test>\r\nSubject: bench big\r\n\r\n';
  const line = 'z'.repeat(76) + '\r\n';
  const chunk = line.repeat(Math.floor(65536 / line.length));
  let sent = 0;
  const write = (s: string) => new Promise<void>((resolve) => { if (c.sock.write(s)) resolve(); else c.sock.once('drain', () => resolve()); });
  await write(head);
  while (sent + chunk.length <= bytes) { await write(chunk); sent += chunk.length; }
  const left = bytes - sent;
  if (left > 0) {
    let tail = line.repeat(Math.floor(left / line.length));
    const r = left - tail.length;
    if (r >= 3) tail += 'z'.repeat(r - 2) + '\r\n';
    await write(tail);
    sent += tail.length;
  }
  const tData = performance.now();
  c.sock.write('.\r\n');
  const r = await c.reply();
  const now = performance.now();
  c.close();
  out({ code: r.code, reply: r.text, bodyBytes: sent, seconds: (now - t0) / 1000, dotTo250ms: now - tData });
}

const modes: Record<string, () => Promise<void>> = { latency, idle, big };
const fn = mode ? modes[mode] : undefined;
if (!fn || !port) {
  process.stderr.write('usage: node bench/client.ts latency|idle|big --port P [options]\n');
  process.exit(2);
}
fn().then(() => {
  if (mode !== 'idle') { clearTimeout(hardStop); setTimeout(() => process.exit(0), 600).unref(); }
}, (e: Error) => {
  out({ error: e.message });
  process.exit(1);
});
