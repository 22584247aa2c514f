// The ConnectionGate's stand-in in an SMTP worker process. The primary
// accepted and counted each connection before handing it over, so accept()
// only notes which handed connection a socket is; when the socket closes (or
// the server lets it go early) the primary is told, once, and frees its
// slots. A trusted proxy's header is read here: the client's slot is asked of
// the primary (exact across processes); a refusal is answered here as the
// gate answers it, an unanswered request closes the connection (fail closed).

import type { Socket } from 'node:net';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { LogThrottle } from '../log/log-throttle.ts';
import { HeldSocketGate, refuseSocket } from '../smtp/connection-gate.ts';
import type { LimitHit } from '../smtp/connection-limits.ts';

interface Handed {
  id: number;
  done: boolean;
}

export interface WorkerGateDeps {
  snapshot(): Snapshot;
  throttle: LogThrottle;
  /** The primary's answer for a proxied client's slot: the limit hit, or null when taken. */
  claim(id: number, address: string): Promise<LimitHit | null>;
  /** Tells the primary a handed connection is over. */
  closed(id: number): void;
}

export class WorkerGate extends HeldSocketGate<Handed> {
  private readonly deps: WorkerGateDeps;
  /** Connections served here now (for the load report and shutdown). */
  open = 0;

  constructor(listener: ListenerDef, deps: WorkerGateDeps) {
    super(listener, deps);
    this.deps = deps;
  }

  /** Before the socket is injected into the server: which handed connection it is. */
  expect(socket: Socket, id: number): void {
    this.held.set(socket, { id, done: false });
  }

  accept(socket: Socket): boolean {
    const h = this.held.get(socket);
    if (!h) {
      // Not handed by the primary: nothing counted it, so nothing may serve it.
      socket.destroy();
      return false;
    }
    this.open++;
    socket.once('close', () => this.release(h));
    return true;
  }

  claim(socket: Socket, address: string): Promise<boolean> {
    const h = this.held.get(socket);
    if (!h) return Promise.resolve(false);
    return this.deps.claim(h.id, address).then(
      (hit) => {
        if (hit === null) return true;
        refuseSocket(socket, this.listener.mode === 'smtps', this.deps.snapshot().settings.hostname);
        return false;
      },
      (err: unknown) => {
        socket.on('error', () => {});
        socket.destroy();
        throw err instanceof Error ? err : new Error(String(err));
      },
    );
  }

  protected release(h: Handed): void {
    if (h.done) return;
    h.done = true;
    this.open--;
    this.deps.closed(h.id);
  }
}
