// Our SpamAssassin spamd client (SPAMC/1.5, SYMBOLS): the message goes from
// the spool's temporary file to spamd after DATA (spamd wants its length
// first), and the answer gives the score, spamd's own threshold and the
// names of the rules that hit. Any failure is an `error` verdict.

import { connect } from 'node:net';
import { connectOptions, type EngineAddress } from './engine-address.ts';
import { sendMessage, type MessageSource, type SpamVerdict } from './spam-verdict.ts';

/** Reads a spamd response to SYMBOLS (or CHECK). */
export function parseSpamdResponse(text: string): SpamVerdict {
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd >= 0 ? text.slice(0, headEnd) : text;
  const body = headEnd >= 0 ? text.slice(headEnd + 4) : '';
  const [status = '', ...lines] = head.split('\r\n');
  const st = /^SPAMD\/\d+\.\d+ (\d+) (.*)$/.exec(status);
  if (!st) return { result: 'error', detail: `spamd answered something unexpected: ${JSON.stringify(status.slice(0, 200))}` };
  if (st[1] !== '0') return { result: 'error', detail: `spamd: ${st[2] ?? ''} (${st[1] ?? ''})` };
  for (const line of lines) {
    const m = /^Spam:\s*(True|False|Yes|No)\s*;\s*(-?[0-9.]+)\s*\/\s*(-?[0-9.]+)\s*$/i.exec(line);
    if (!m) continue;
    const symbols = body
      .split(',')
      .map((s) => s.trim())
      .filter((s) => /^[A-Za-z0-9_.-]+$/.test(s));
    return { result: 'scored', score: Number(m[2]), required: Number(m[3]), symbols };
  }
  return { result: 'error', detail: 'spamd gave no Spam: header' };
}

export function spamdCheck(address: EngineAddress, message: MessageSource, timeoutMs: number): Promise<SpamVerdict> {
  return new Promise((resolve) => {
    const sock = connect(connectOptions(address));
    const parts: Buffer[] = [];
    let got = 0;
    let settled = false;
    const done = (v: SpamVerdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    // One deadline for the whole exchange: spamd thinks only after the last octet.
    const timer = setTimeout(() => done({ result: 'error', detail: `spamd did not answer within ${timeoutMs} ms` }), timeoutMs);
    sock.on('error', (err) => done({ result: 'error', detail: `spamd: ${err.message}` }));
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (got > 256 * 1024) return done({ result: 'error', detail: 'spamd: reply too long' });
      parts.push(d);
    });
    sock.on('end', () => done(parseSpamdResponse(Buffer.concat(parts).toString('latin1'))));
    sock.on('close', () => done({ result: 'error', detail: 'spamd closed the connection without an answer' }));
    sock.on('connect', () => {
      sock.write(`SYMBOLS SPAMC/1.5\r\nContent-length: ${message.size}\r\nUser: mailwarden\r\n\r\n`);
      sendMessage(sock, message, () => settled).catch((err: unknown) => done({ result: 'error', detail: `reading the message for spamd: ${(err as Error).message}` }));
    });
  });
}
