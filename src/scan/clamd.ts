// Our ClamAV clamd client: one INSTREAM per message (zINSTREAM, the data as
// length-prefixed chunks while DATA arrives, a zero-length chunk at the end)
// and zPING. The message is never held whole: each chunk is framed and
// written, and a slow clamd slows the client down through backpressure.
// Every failure (refused connection, silence past the timeout, a reply we do
// not understand, clamd's own ERROR) ends as an `error` verdict: the caller
// decides what that means (fail closed by default).

import { connect, type Socket } from 'node:net';
import { connectOptions, type EngineAddress } from './engine-address.ts';

export type ClamdVerdict = { result: 'clean' } | { result: 'infected'; name: string } | { result: 'error'; detail: string };

/** Reads clamd's answer to a stream scan ("stream: OK", "stream: Name FOUND", "... ERROR"). */
export function parseClamdReply(text: string): ClamdVerdict {
  const reply = text.replace(/\0$/, '').trim();
  const m = /^(?:\d+: )?stream: (.*)$/.exec(reply);
  const body = m?.[1] ?? reply;
  if (body === 'OK') return { result: 'clean' };
  const found = /^(.+) FOUND$/.exec(body);
  if (found) return { result: 'infected', name: found[1] ?? 'unknown' };
  if (/ERROR$/.test(body)) return { result: 'error', detail: `clamd: ${body.replace(/\s*ERROR$/, '')}` };
  return { result: 'error', detail: `clamd answered something unexpected: ${JSON.stringify(reply.slice(0, 200))}` };
}

/** One stream scan in progress. */
export class ClamdScan {
  private readonly sock: Socket;
  private reply = '';
  private failure: string | null = null;
  private closed = false;
  private finished = false;
  private readonly ended: Promise<void>;
  private readonly timeoutMs: number;
  private waiters: (() => void)[] = [];
  /** Octets sent to clamd so far. */
  sent = 0;

  constructor(address: EngineAddress, timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    const sock = connect(connectOptions(address));
    this.sock = sock;
    sock.setNoDelay(true);
    // Not an idle timeout while streaming: the SMTP client may pause; clamd not
    // reading is caught in write(), silence after the end in finish().
    const connectTimer = setTimeout(() => this.fail(`clamd did not accept the connection within ${timeoutMs} ms`), timeoutMs);
    sock.once('connect', () => clearTimeout(connectTimer));
    sock.once('close', () => clearTimeout(connectTimer));
    sock.on('error', (err) => this.fail(`clamd: ${err.message}`));
    sock.on('data', (d: Buffer) => {
      this.reply += d.toString('latin1');
      if (this.reply.length > 4096) this.fail('clamd: reply too long');
    });
    this.ended = new Promise((resolve) => {
      sock.on('close', () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w();
        resolve();
      });
    });
    sock.on('drain', () => {
      for (const w of this.waiters.splice(0)) w();
    });
    sock.write('zINSTREAM\0');
  }

  private fail(detail: string): void {
    this.failure ??= detail;
    this.sock.destroy();
  }

  /** Sends one chunk; resolves when clamd can take more. Does nothing once the scan has failed. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure !== null || this.closed || this.finished || chunk.length === 0) return;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(chunk.length, 0);
    this.sent += chunk.length;
    this.sock.write(len);
    if (this.sock.write(chunk)) return;
    const timer = setTimeout(() => this.fail(`clamd did not read the message within ${this.timeoutMs} ms`), this.timeoutMs);
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    clearTimeout(timer);
  }

  /** Ends the stream and waits for the verdict. */
  async finish(): Promise<ClamdVerdict> {
    if (!this.finished && this.failure === null && !this.closed) {
      this.finished = true;
      this.sock.end(Buffer.alloc(4));
      this.sock.setTimeout(this.timeoutMs, () => this.fail(`clamd did not answer within ${this.timeoutMs} ms`));
    }
    await this.ended;
    if (this.failure !== null) {
      // clamd may have said why it closed (e.g. the size limit) before the write failed.
      if (this.reply.includes('\0')) return parseClamdReply(this.reply);
      return { result: 'error', detail: this.failure };
    }
    if (this.reply === '') return { result: 'error', detail: 'clamd closed the connection without a verdict' };
    return parseClamdReply(this.reply);
  }

  /** Gives up (the message was refused for another reason). */
  abort(): void {
    this.finished = true;
    this.failure ??= 'aborted';
    this.sock.destroy();
  }
}

/** zPING → PONG: whether clamd answers at all. */
export function clamdPing(address: EngineAddress, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(connectOptions(address));
    let reply = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (reply.includes('\0')) done(reply.replace(/\0.*$/s, '') === 'PONG');
    });
    sock.on('close', () => done(false));
    sock.write('zPING\0');
  });
}
