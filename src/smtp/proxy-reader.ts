// Reads the PROXY header (v1 or v2, src/smtp/proxy-header.ts) off a socket
// from a trusted proxy, before smtp-server sees a byte: whatever arrived after
// the header is put back (unshift) for the SMTP session. Replaces
// smtp-server's own v1 reader (lax, v1 only).
//
// Outcomes: the header; or a failure, `quiet` when the peer simply went away
// before sending a byte (a load balancer's TCP health check connects and
// closes, often with a reset): that is no error and is not logged. A failure
// after bytes arrived (a malformed or cut-off header) is not quiet. The caller
// closes the socket on any failure. The deadline is the accept guard's (the
// socket's idle timeout, set by smtp-server before this runs).

import type { Socket } from 'node:net';
import { parseProxyHeader, type ProxyHeader } from './proxy-header.ts';

export type ProxyOutcome = { ok: true; header: ProxyHeader } | { ok: false; reason: string; quiet: boolean };

export function readProxyHeader(socket: Socket, done: (outcome: ProxyOutcome) => void): void {
  let buf: Buffer | null = null;
  let finished = false;
  const finish = (outcome: ProxyOutcome): void => {
    if (finished) return;
    finished = true;
    socket.removeListener('readable', onReadable);
    socket.removeListener('error', onError);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onClose);
    // A late error (a reset while we close) must not become an uncaught exception.
    if (!outcome.ok) socket.on('error', () => {});
    done(outcome);
  };
  const gone = (why: string): void => {
    const seen = buf?.length ?? 0;
    finish({ ok: false, reason: seen === 0 ? why : `${why} after ${seen} bytes of a PROXY header`, quiet: seen === 0 });
  };
  const onError = (err: Error): void => gone(`connection error (${(err as NodeJS.ErrnoException).code ?? err.message})`);
  const onEnd = (): void => gone('connection ended');
  const onClose = (): void => gone('connection closed');
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
      buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.status === 'incomplete') continue;
      if (r.status === 'invalid') return finish({ ok: false, reason: r.reason, quiet: false });
      if (r.length < buf.length) socket.unshift(buf.subarray(r.length));
      return finish({ ok: true, header: r.header });
    }
  };
  socket.on('readable', onReadable);
  socket.on('error', onError);
  socket.on('end', onEnd);
  socket.on('close', onClose);
}
