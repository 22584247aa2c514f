// Starts one patched smtp-server per listener of the settings, with the
// options its mode asks for (mx: STARTTLS offered, AUTH only under TLS;
// submission: AUTH, hence TLS, required before MAIL; smtps: implicit TLS),
// and stops them gracefully.

import type { SMTPServerOptions } from 'smtp-server';
import type { ListenerDef } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import { parseIp } from '../objects/ip.ts';
import { LogThrottle } from '../log/log-throttle.ts';
import type { Socket } from 'node:net';
import { ConnectionGate, type SocketGate } from './connection-gate.ts';
import { PatchedSMTPServer } from './smtp-server-patches.ts';
import { frontEndOptions, type FrontEndShared } from './front-end.ts';
import type { TlsMaterial } from './tls.ts';
import type { Snapshot } from '../config/snapshot.ts';

export interface RunningListener {
  def: ListenerDef;
  server: PatchedSMTPServer;
  /** Counts this listener's connections (in the process that accepts them). */
  gate: ConnectionGate;
  /** The port actually bound (differs from def.port only when def.port is 0 in tests). */
  port: number;
}

export class ListenError extends Error {}

function baseOptions(def: ListenerDef, snap: Snapshot, tls: TlsMaterial): SMTPServerOptions {
  const lim = snap.settings.limits;
  return {
    name: snap.settings.hostname,
    banner: 'mailwarden',
    size: lim.max_message_size,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    hideREQUIRETLS: true,
    disableReverseLookup: true,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    authOptional: def.mode !== 'submission',
    secure: def.mode === 'smtps',
    hideSTARTTLS: def.mode === 'smtps',
    key: tls.key,
    cert: tls.cert,
    logger: false,
    socketTimeout: durationMs(lim.idle_timeout),
    closeTimeout: Math.max(1000, durationMs(lim.shutdown_grace)),
    maxCommandLength: lim.max_line_length,
    maxAllowedUnauthenticatedCommands: def.mode === 'submission' ? lim.max_errors : false,
  } as SMTPServerOptions;
}

/**
 * Where an admitted connection may go instead of being served here (src/process):
 * true when another process took the socket. Listening sockets then accept paused.
 */
export type HandOff = (listener: RunningListener, socket: Socket) => boolean;

/** One listener's patched server, not listening yet: its handlers, its trusted proxies, its gate. */
export function listenerServer(def: ListenerDef, snap: Snapshot, shared: FrontEndShared, tls: TlsMaterial, gate: SocketGate, o: { pauseOnConnect?: boolean; onHandshakeError?: (address: string | undefined, message: string) => void } = {}): PatchedSMTPServer {
  // Trusted proxies are looked up in the newest snapshot, by listener name.
  const trustProxy = def.trusted_proxies.length
    ? (address: string): boolean => {
        const current = shared.snapshot();
        const names = current.listeners.get(def.name)?.trusted_proxies ?? [];
        const ip = parseIp(address);
        return ip.ok && names.some((n) => current.networks.match(n, ip.value) !== null);
      }
    : undefined;
  const server = new PatchedSMTPServer({ ...frontEndOptions(def, shared, baseOptions(def, snap, tls)), ...(o.pauseOnConnect ? { pauseOnConnect: true } : {}) }, trustProxy, gate);
  server.on('error', (err: Error & { code?: string; remoteAddress?: string; meta?: { stage?: string } }) => {
    // A failed STARTTLS handshake is a client's doing, repeatable at will: throttled per client.
    if (err.meta?.stage === 'connect') return gate.handshakeFailed(null, err.remoteAddress, err.message);
    shared.logger.log('smtp.error', { listener: def.name, error: err.message, code: err.code });
  });
  return server;
}

export async function startListeners(snap: Snapshot, shared: FrontEndShared, tls: TlsMaterial, handOff?: HandOff): Promise<RunningListener[]> {
  const running: RunningListener[] = [];
  // One throttle for all listeners: a flood is one client's, whichever port it hits.
  const throttle = new LogThrottle(shared.logger);
  try {
    for (const def of snap.settings.listeners) {
      const gate = new ConnectionGate(def, { snapshot: () => shared.snapshot(), limits: shared.connections, throttle });
      const server = listenerServer(def, snap, shared, tls, gate, { pauseOnConnect: handOff !== undefined });
      const port = await new Promise<number>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => {
          reject(new ListenError(err.code === 'EADDRINUSE' ? `listener "${def.name}": ${def.address} port ${def.port} is already in use` : `listener "${def.name}": cannot listen on ${def.address} port ${def.port}: ${err.message}`));
        };
        server.server.once('error', onError);
        server.listen(def.port, def.address, () => {
          server.server.off('error', onError);
          const addr = server.server.address();
          resolve(typeof addr === 'object' && addr ? addr.port : def.port);
        });
      });
      const r: RunningListener = { def, server, gate, port };
      if (handOff) server.handOff = (socket) => handOff(r, socket);
      running.push(r);
      // Before the start is complete: when a later step fails, this says what was bound (and then closed).
      shared.logger.log('listening', { listener: def.name, address: def.address, port });
    }
  } catch (err) {
    await Promise.all(running.map((r) => new Promise<void>((done) => r.server.server.close(() => done()))));
    throw err;
  }
  return running;
}

/**
 * Stops accepting, lets the DATA commits in flight finish (up to the grace
 * time), then says 421 to every remaining client and closes.
 */
export async function stopListeners(running: readonly { server: PatchedSMTPServer }[], shared: FrontEndShared, graceMs: number): Promise<void> {
  // A worker's servers never listened: close() then has nothing to stop.
  for (const r of running) if (r.server.server.listening) r.server.server.close();
  if (shared.inFlight.count > 0) {
    await new Promise<void>((done) => {
      const timer = setTimeout(done, graceMs);
      const previous = shared.inFlight.idle;
      shared.inFlight.idle = () => {
        clearTimeout(timer);
        shared.inFlight.idle = previous;
        done();
      };
    });
  }
  for (const r of running) {
    for (const conn of r.server.connections) conn.send(421, '4.3.2 Service shutting down');
  }
}
