// What a listener decides about a connection at the TCP accept, before any
// PROXY header or TLS handshake (as Postfix's anvil counts): it takes the
// connection's slots in limits.max_connections and max_connections_per_client
// and gives them back when the socket closes, refuses a connection beyond
// them at once (421 4.7.0 where a reply is possible, a bare close on an
// implicit-TLS listener, where it is not), and logs refusals and failed
// handshakes through a LogThrottle, so that a flood costs no disk.

import type { Socket } from 'node:net';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { durationMs } from '../core/duration.ts';
import type { LogThrottle } from '../log/log-throttle.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { clientBucket } from '../objects/client-bucket.ts';
import type { ConnectionLimits, LimitHit } from './connection-limits.ts';

/** How long a refused client may take to read our 421 before the socket goes. */
const REFUSE_LINGER_MS = 2000;

export interface GateDeps {
  snapshot(): Snapshot;
  limits: ConnectionLimits;
  throttle: LogThrottle;
}

/** The slots one connection holds; released once, on its socket's close (or, handed to a worker process, on its word). */
interface Held {
  total: boolean;
  client: string | null;
  /** Served by another process: the socket's close here means nothing. */
  handed?: boolean;
}

/**
 * What a patched server asks about its sockets (src/smtp/smtp-server-patches.ts):
 * the ConnectionGate in the process that accepts, or a worker process's
 * stand-in that asks the primary (src/process/worker-gate.ts).
 */
export interface SocketGate {
  accept(socket: Socket, proxied: boolean): boolean;
  /** A trusted proxy's header named the client: its per-client slot; false (or a promise of false) when refused. */
  claim(socket: Socket, address: string): boolean | Promise<boolean>;
  follow(raw: Socket, wrapped: Socket): void;
  letGo(socket: Socket): void;
  handshakeMs(): number;
  handshakeFailed(socket: Socket | null, address: string | undefined, reason: string): void;
  proxyFailed(socket: Socket, reason: string): void;
}

/** The slots of a connection handed to a worker process, released when the worker says it closed. */
export interface HandedSlots {
  /** The proxied client's slot (the worker read the PROXY header); the limit hit (logged here) or null when taken. */
  claim(address: string): LimitHit | null;
  release(): void;
}

/** Says 421 where a reply is possible (a bare close on implicit TLS), and closes after a short linger. */
export function refuseSocket(socket: Socket, silent: boolean, hostname: string): void {
  socket.on('error', () => {});
  if (silent) {
    socket.destroy();
    return;
  }
  socket.end(`421 4.7.0 ${hostname} Too many connections, try again later\r\n`);
  setTimeout(() => socket.destroy(), REFUSE_LINGER_MS).unref();
}

/** A client address as the rules write it (an IPv4-mapped IPv6 address as IPv4). */
export function clientText(address: string | undefined): string {
  const ip = parseIp(address ?? '');
  return ip.ok ? formatIp(ip.value) : String(address ?? '');
}

/**
 * What both gates do the same way with the state `H` they hold per socket:
 * follow it through STARTTLS, let it go early, time and log handshakes and
 * PROXY headers. `release` runs at most once per connection's state as the
 * subclass decides (the socket's close, or the server letting it go).
 */
export abstract class HeldSocketGate<H> implements SocketGate {
  protected readonly held = new WeakMap<Socket, H>();
  protected readonly listener: ListenerDef;
  private readonly base: { snapshot(): Snapshot; throttle: LogThrottle };

  constructor(listener: ListenerDef, base: { snapshot(): Snapshot; throttle: LogThrottle }) {
    this.listener = listener;
    this.base = base;
  }

  abstract accept(socket: Socket, proxied: boolean): boolean;
  abstract claim(socket: Socket, address: string): boolean | Promise<boolean>;
  protected abstract release(h: H): void;

  /** The client as this gate knows it (a PROXY header's), if it does. */
  protected knownClient(_socket: Socket): string | undefined {
    return undefined;
  }

  /**
   * A socket wrapped by STARTTLS: smtp-server removed every listener of the
   * raw one, so what it holds is released when the wrapper closes.
   */
  follow(raw: Socket, wrapped: Socket): void {
    const h = this.held.get(raw);
    if (h === undefined) return;
    this.held.set(wrapped, h);
    wrapped.once('close', () => this.release(h));
    // Closed already (a client gone mid-upgrade): release now, the event will not come.
    if (raw.destroyed && wrapped.destroyed) this.release(h);
  }

  /**
   * The server is about to close `socket` itself (a handshake deadline, a
   * failed handshake): its slots are free from now, not from the 'close'
   * event a few loop turns later, by which time a client that saw the close
   * may already be back for the slot it had.
   */
  letGo(socket: Socket): void {
    const h = this.held.get(socket);
    if (h !== undefined) this.release(h);
  }

  handshakeMs(): number {
    return durationMs(this.base.snapshot().settings.limits.tls_handshake_timeout);
  }

  /** A TLS handshake that timed out or failed (implicit TLS or STARTTLS): one throttled line per client. */
  handshakeFailed(socket: Socket | null, address: string | undefined, reason: string): void {
    const client = (socket && this.knownClient(socket)) ?? clientText(address);
    this.base.throttle.log('tls.handshake_failed', client, { client, listener: this.listener.name, reason });
  }

  /** A trusted proxy's PROXY header that could not be read: one throttled line per proxy (the caller closes the socket). */
  proxyFailed(socket: Socket, reason: string): void {
    const proxy = this.knownClient(socket) ?? clientText(socket.remoteAddress);
    this.base.throttle.log('proxy.bad_header', proxy, { proxy, listener: this.listener.name, reason });
  }
}

export class ConnectionGate extends HeldSocketGate<Held> {
  private readonly clients = new WeakMap<Socket, string>();
  private readonly deps: GateDeps;

  constructor(listener: ListenerDef, deps: GateDeps) {
    super(listener, deps);
    this.deps = deps;
  }

  protected override knownClient(socket: Socket): string | undefined {
    return this.clients.get(socket);
  }

  /** Nothing can be written before TLS on an implicit-TLS listener. */
  private get silent(): boolean {
    return this.listener.mode === 'smtps';
  }

  /**
   * At the TCP accept. A trusted proxy's connection (`proxied`) counts in the
   * total only: its client is known once the header is read (see claim).
   * False when the connection was refused (the socket is closing then).
   */
  accept(socket: Socket, proxied: boolean): boolean {
    const snap = this.deps.snapshot();
    const lim = snap.settings.limits;
    const client = clientText(socket.remoteAddress);
    this.clients.set(socket, client);
    // An IPv6 client is counted by its network (limits.ipv6_client_prefix).
    const perClient = proxied ? null : clientBucket(client, lim.ipv6_client_prefix);
    const hit = this.deps.limits.acquire(perClient, lim.max_connections, perClient === null ? Infinity : this.clientMax(snap, client));
    if (hit) {
      this.refuse(socket, snap, client, hit, proxied);
      return false;
    }
    const held: Held = { total: true, client: perClient };
    this.held.set(socket, held);
    socket.once('close', () => {
      if (!held.handed) this.release(held);
    });
    return true;
  }

  /**
   * The accepted `socket` goes to another process: its slots stay taken
   * until release() (the worker's word that it closed, or the worker's death).
   */
  handOver(socket: Socket): HandedSlots | null {
    const held = this.held.get(socket);
    if (!held) return null;
    held.handed = true;
    return {
      claim: (address) => {
        if (held.client !== null || !held.total) return null;
        const snap = this.deps.snapshot();
        const client = clientText(address);
        const bucket = clientBucket(client, snap.settings.limits.ipv6_client_prefix);
        const hit = this.deps.limits.acquireClient(bucket, this.clientMax(snap, client));
        if (hit) {
          this.logRefusal(snap, client, hit, false);
          return hit;
        }
        held.client = bucket;
        return null;
      },
      release: () => this.release(held),
    };
  }

  /** A trusted proxy's header named `address` as the client: its per-client slot. False when refused. */
  claim(socket: Socket, address: string): boolean {
    const held = this.held.get(socket);
    if (!held || held.client !== null) return true;
    const snap = this.deps.snapshot();
    const client = clientText(address);
    this.clients.set(socket, client);
    const bucket = clientBucket(client, snap.settings.limits.ipv6_client_prefix);
    const hit = this.deps.limits.acquireClient(bucket, this.clientMax(snap, client));
    if (hit) {
      this.refuse(socket, snap, client, hit, false);
      return false;
    }
    held.client = bucket;
    return true;
  }


  /**
   * Hosts with host-based relay rights (our own mail servers) are exempt from
   * the per-client limit, as Postfix exempts $mynetworks: a busy internal
   * server must not be throttled like a stranger.
   */
  private clientMax(snap: Snapshot, client: string): number {
    const ip = parseIp(client);
    return ip.ok && snap.allowed.match(ip.value) !== null ? Infinity : snap.settings.limits.max_connections_per_client;
  }

  private refuse(socket: Socket, snap: Snapshot, client: string, hit: LimitHit, proxied: boolean): void {
    this.logRefusal(snap, client, hit, proxied);
    refuseSocket(socket, this.silent, snap.settings.hostname);
  }

  private logRefusal(snap: Snapshot, client: string, hit: LimitHit, proxied: boolean): void {
    const bucket = clientBucket(client, snap.settings.limits.ipv6_client_prefix);
    this.deps.throttle.log('connect.limit', bucket, { client, ...(bucket !== client ? { counted_as: bucket } : {}), listener: this.listener.name, limit: hit, ...(proxied ? { proxy: true } : {}) });
  }

  protected release(held: Held): void {
    if (held.total) this.deps.limits.releaseTotal();
    if (held.client !== null) this.deps.limits.releaseClient(held.client);
    held.total = false;
    held.client = null;
  }
}
