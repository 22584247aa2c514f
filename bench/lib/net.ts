// Loopback helpers: a free TCP port on 127.0.0.1, and waiting until an SMTP
// server there answers with its 220 greeting (how we know a relay is up).

import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const HOST = '127.0.0.1';

const handedOut = new Set<number>();

/** A port nothing listens on right now (and that we have not handed out before). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, HOST, () => {
        const a = srv.address();
        const p = typeof a === 'object' && a ? a.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port on 127.0.0.1');
}

function greetingOnce(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: HOST, port });
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('no greeting')); }, timeoutMs);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const m = /^(\d{3}) [^\r\n]*\r?\n/m.exec(buf);
      if (m) {
        clearTimeout(timer);
        sock.end('QUIT\r\n');
        setTimeout(() => sock.destroy(), 200);
        if (m[1] === '220') resolve(m[0].trim()); else reject(new Error(`greeting: ${m[0].trim()}`));
      }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Waits (bounded) until the server on `port` greets with 220. */
export async function waitForGreeting(port: number, timeoutMs: number, stillRunning: () => boolean = () => true): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    if (!stillRunning()) throw new Error('exited before it listened');
    try {
      return await greetingOnce(port, Math.min(3000, Math.max(100, until - Date.now())));
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  throw new Error(`no SMTP greeting on ${HOST}:${port} within ${timeoutMs} ms (${String(last)})`);
}
