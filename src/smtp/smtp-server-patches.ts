// Where smtp-server 3.21.6 falls short of what mailwarden needs, closed in one
// place. Each patch is small, tied to the exact pinned version (a different
// version refuses to start rather than silently losing a patch), and proved on
// the wire by the tests named with each:
//
// 1. Greeting at once. The library waits a fixed 100 ms before every greeting
//    (its early-talker check), capping one-connection-per-message clients at
//    10 messages/s. We greet immediately; input that is already buffered
//    before the greeting (e.g. pipelined behind a PROXY header) is still
//    refused as an early talker. (test/smtp/bad-input, proxy) The socket
//    also gets TCP_NODELAY here.
// 2. Our enhanced status codes. The library picks the enhanced code from a
//    table by reply code (554 → 5.6.0), so a relay refusal could not say
//    5.7.1. A reply text that starts with an enhanced code keeps it.
//    (test/smtp/wire-rules)
// 3. An over-long command line is answered 500 5.5.2 (the library: 421).
//    (test/smtp/bad-input, limits)
// 4. Trusted proxies by network object. The library matches PROXY senders by
//    exact IP only; the listener supplies a predicate instead.
//    (test/smtp/proxy)
// 5. Paths reach our handlers as sent. The library's own address check
//    answered 501 before our rules saw the path: it split quoted local parts
//    at spaces, refused forms RFC 5321 allows (a trailing dot, "a@b"@c) and
//    stripped source routes, and its refusals were neither logged nor counted
//    in limits.max_errors. `address` is now the raw path token, brackets
//    included ('' when none was given), and src/address/path.ts decides.
//    A parameter we do not implement (FOO=BAR, REQUIRETLS, AUTH= where AUTH
//    is not offered, a second path) is taken out of `args` and named in
//    `unsupported`; the handler answers 555 5.5.4 and counts it. The library
//    accepted any keyword with 250 and acted on REQUIRETLS, which we never
//    announce. (test/smtp/wire-rules, limits, parameters; test/smtp/address-command)
// 6. Cheaper session ids. The library draws each connection's id from the
//    system's generator and converts it through a BigInt; that was 1.5 % of
//    the relay's CPU with a new connection per message. Same form (16
//    characters of base32, 80 random bits), from src/core/random-pool.ts.
//    Connections from trusted proxies get the same ids. (bench/: CPU per
//    message)
// 7. A gate before each command. The library dispatches a command it knows
//    without asking us; AUTH before STARTTLS (not offered, hence "500 not
//    recognized") and RCPT/DATA on submission before TLS ("503") answered
//    differently from MAIL (our 530). The option `commandGate` (set by
//    src/smtp/front-end.ts, decided in src/smtp/command-gate.ts) is asked
//    first; a reply it gives is sent instead of dispatching. Continuation
//    lines of an AUTH exchange and the checks the library makes first
//    (shutdown, early talker, TLS handshake in progress) are left alone.
//    (test/smtp/tls-gate)
// 8. Connection limits at the TCP accept, and a TLS handshake deadline. The
//    library hands a connection to our onConnect only after the PROXY header
//    and, on an implicit-TLS listener, the TLS handshake; until then nothing
//    counted it, and a silent client held its socket for the idle timeout.
//    A ConnectionGate now counts every accepted socket (and refuses beyond the
//    limits) before anything else, the implicit-TLS path (PROXY header and
//    handshake) and the STARTTLS handshake get limits.tls_handshake_timeout as
//    a deadline from their start, and failed handshakes are logged through the
//    gate's throttle instead of one 'error' per connection.
//    (test/smtp/handshake-flood)
// 9. Our PROXY reader, v1 and v2. The library read v1 only, laxly (any line
//    starting "PROXY", its second word taken as the address). A trusted
//    proxy's header is now read by src/smtp/proxy-reader.ts with the strict
//    parser of src/smtp/proxy-header.ts. A bad header closes the connection
//    with one throttled `proxy.bad_header` line; a peer that leaves before
//    sending a byte (a TCP health check) closes it silently. A LOCAL header
//    (v2), v1 UNKNOWN, or a header naming the proxy itself as the client (as
//    HAProxy's v1 health checks do), serves the connection with the proxy's
//    own address and marks the session `proxyLocal`: the front end keeps such
//    health checks out of the log (src/smtp/front-end.ts), and a LOCAL
//    connection's failed implicit-TLS handshake (a TCP check on port 465) is
//    not logged either. A peer that reset before its accept was handled has
//    no address to judge and is dropped. Untrusted peers never reach the
//    reader: their bytes are SMTP, as before.
//    (test/smtp/proxy-header, proxy, proxy-v2; test/cluster/haproxy)
// 10. Several processes (src/process). In the primary, an accepted socket
//    that the gate admitted may be handed to a worker process (`handOff`);
//    the listening socket then pauses every new connection (pauseOnConnect),
//    so that no byte is read here before the handle moves, and a socket
//    served here is set reading as a fresh one would be. In a worker, the
//    gate is a stand-in whose per-client claim (after a PROXY header) is
//    asked of the primary, asynchronously. (test/process)

import { createRequire } from 'node:module';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { Socket } from 'node:net';
import { splitAddressCommand, supportedParameters } from './address-command.ts';
import { clientText, type SocketGate } from './connection-gate.ts';
import { pooledRandom } from '../core/random-pool.ts';
import { readProxyHeader } from './proxy-reader.ts';

const PINNED = '3.21.6';
const ENHANCED = /^[245]\.[0-9]{1,3}\.[0-9]{1,3} /;

const version = (createRequire(import.meta.url)('smtp-server/package.json') as { version: string }).version;
if (version !== PINNED) throw new Error(`mailwarden's smtp-server patches are written for ${PINNED}, found ${version}; review src/smtp/smtp-server-patches.ts`);

// Internals the patches reach; present in the pinned version (checked above).
interface ConnectionInternals {
  _socket: Socket;
  _server: SMTPServer & { options: SMTPServerOptions & { maxClients?: number }; gate?: SocketGate | null };
  _upgrading: boolean;
  remoteAddress: string;
  _setListeners(cb: () => void): void;
  connectionReady(next?: () => void): void;
  send(code: number, data?: string | string[] | null, context?: string | false): void;
  close(): void;
  name: string;
}

/** Asked before each command (patch 7); an error is sent as the reply instead of running the command. */
export type CommandGate = (command: string, session: SMTPServerSession, secure: boolean) => (Error & { responseCode: number }) | null;

/** The options our listeners hand the patched server. */
export type PatchedOptions = SMTPServerOptions & { commandGate?: CommandGate };

const proto = SMTPConnection.prototype as unknown as ConnectionInternals & {
  init(): void;
  _onCommand(command: Buffer | string, callback?: () => void): void;
  _whenWritable(next: () => void): void;
  _nextHandler: unknown;
  _upgrading: boolean;
  _ready: boolean;
  secure: boolean;
  session: SMTPServerSession;
  _createParser(): NodeJS.EventEmitter;
  _parseAddressCommand(name: string, command: string | Buffer): WirePath;
  _isSupported(command: string): boolean;
  _armTimeout(socket?: Socket): void;
};

/** A session whose trusted proxy sent LOCAL (or v1 UNKNOWN): the proxy itself, typically a health check (patch 9). */
export type ProxySession = SMTPServerSession & { proxyLocal?: boolean };

export function isProxyLocal(session: SMTPServerSession): boolean {
  return (session as ProxySession).proxyLocal === true;
}

/** What our handlers get as `address` for MAIL FROM and RCPT TO (patch 5). */
export interface WirePath {
  /** The path token as sent, brackets included. */
  address: string;
  args: Record<string, string | true> | false;
  duplicate?: string;
  /** Set when a parameter had to be dropped; the handler refuses the command. */
  paramError?: string;
  /** A parameter we do not implement, as sent; the handler answers 555 5.5.4. */
  unsupported?: string;
}

// 1. Greeting at once.
proto.init = function init(this: ConnectionInternals & { session: SMTPServerSession }): void {
  // 9. PatchedSMTPServer.connect() raises the flag around the construction of a LOCAL connection.
  if ((this._server as { connectingLocal?: boolean }).connectingLocal) (this.session as ProxySession).proxyLocal = true;
  // Replies are small writes: Nagle would hold one back behind an unacknowledged one.
  this._socket.setNoDelay?.(true);
  this._setListeners(() => {
    if (this._socket.readableLength > 0) {
      this.send(421, `4.7.0 ${this.name} You talk too soon`);
      return;
    }
    this.connectionReady();
  });
};

// 2. Enhanced codes given in the text win over the library's table.
const originalSend = proto.send;
proto.send = function send(this: ConnectionInternals, code: number, data?: string | string[] | null, context?: string | false): void {
  if (typeof data === 'string' && ENHANCED.test(data)) return originalSend.call(this, code, data, false);
  return originalSend.call(this, code, data, context);
};

// 3. Over-long command lines: 500 5.5.2, then close (the parser cannot resume).
const originalCreateParser = proto._createParser;
proto._createParser = function _createParser(this: ConnectionInternals): NodeJS.EventEmitter {
  const parser = originalCreateParser.call(this);
  parser.removeAllListeners('error');
  parser.on('error', (err: Error) => {
    if (/too long/i.test(err.message)) {
      this.send(500, '5.5.2 Line too long');
      this.close();
    } else {
      this.send(421, `4.3.0 ${err.message}`);
    }
  });
  return parser;
};

// 5. Paths as sent.
proto._parseAddressCommand = function _parseAddressCommand(this: typeof proto, name: string, command: string | Buffer): WirePath {
  // What handler_EHLO announces, read from the same options.
  const o = this._server.options as SMTPServerOptions & { hide8BITMIME?: boolean; hideSMTPUTF8?: boolean; hideDSN?: boolean };
  const offered = {
    auth: (o.authMethods?.length ?? 0) > 0 && this._isSupported('AUTH'),
    size: Boolean(o.size),
    eightBitMime: !o.hide8BITMIME,
    smtputf8: !o.hideSMTPUTF8,
    dsn: !o.hideDSN,
  };
  const split = splitAddressCommand(name, String(command ?? ''), supportedParameters(name, offered)) ?? { path: '', args: false };
  const out: WirePath = { address: split.path, args: split.args };
  if (split.duplicate !== undefined) out.duplicate = split.duplicate;
  if (split.paramError !== undefined) out.paramError = split.paramError;
  if (split.unsupported !== undefined) out.unsupported = split.unsupported;
  return out;
};

// 7. A gate before each command.
const originalOnCommand = proto._onCommand;
proto._onCommand = function _onCommand(this: typeof proto, command: Buffer | string, callback?: () => void): void {
  const gate = (this._server.options as PatchedOptions).commandGate;
  const closing = Boolean((this._server as unknown as { _closeTimeout?: unknown })._closeTimeout);
  if (gate && !this._nextHandler && !this._upgrading && this._ready && !closing) {
    const verb = (String(command ?? '').split(' ')[0] ?? '').toUpperCase();
    const refusal = gate(verb, this.session, this.secure);
    if (refusal) {
      // send() closes the connection itself after a 421.
      this.send(refusal.responseCode, refusal.message);
      this._whenWritable(callback ?? (() => false));
      return;
    }
  }
  originalOnCommand.call(this, command, callback);
};

// 8. The STARTTLS handshake's deadline, and the slots' release. upgrade()
// removes every listener of the raw socket (the gate's release on close too)
// and arms the idle timeout on the new TLS socket while the raw one is still
// current: that call is the one place the TLS socket of a STARTTLS handshake
// is in reach.
const originalArmTimeout = proto._armTimeout;
proto._armTimeout = function _armTimeout(this: ConnectionInternals, socket?: Socket): void {
  originalArmTimeout.call(this, socket);
  const gate = this._server.gate;
  if (!gate || !socket || socket === this._socket || !this._upgrading) return;
  // STARTTLS removed every listener of the raw socket, the gate's release on
  // its close among them: the slots now go with the TLS socket.
  gate.follow(this._socket, socket);
  const timer = setTimeout(() => {
    if (!this._upgrading || socket.destroyed) return;
    gate.handshakeFailed(null, this.remoteAddress, 'timeout');
    gate.letGo(socket);
    // Destroying the TLS socket ends the session the usual way (onClose), without an 'error'.
    socket.destroy();
  }, gate.handshakeMs());
  timer.unref();
  const clear = () => clearTimeout(timer);
  socket.once('secure', clear);
  socket.once('close', clear);
};

type UpgradeCallback = Parameters<SMTPServer['_upgrade']>[1];

/**
 * An SMTPServer that asks `trustProxy` whether a peer may send a PROXY header
 * (4), and its ConnectionGate about every accepted socket (8).
 */
export class PatchedSMTPServer extends SMTPServer {
  trustProxy: (address: string) => boolean = () => false;
  readonly gate: SocketGate | null;
  /** 10. Asked about each admitted socket when set: true when another process took it. */
  handOff: ((socket: Socket) => boolean) | null = null;
  /** Raw sockets whose implicit-TLS deadline fired (logged there already). */
  private readonly expired = new WeakSet<Socket>();
  /** Raw sockets whose trusted proxy sent LOCAL (9): its own health checks, whose failed handshakes are not logged. */
  private readonly local = new WeakSet<Socket>();

  constructor(options: SMTPServerOptions & { pauseOnConnect?: boolean }, trustProxy?: (address: string) => boolean, gate?: SocketGate) {
    super({ ...options, useProxy: trustProxy ? true : false });
    if (trustProxy) this.trustProxy = trustProxy;
    this.gate = gate ?? null;
  }

  // 8. Counted at the TCP accept; the implicit-TLS path gets its deadline.
  override _acceptSocket(socket: Socket, handshake: boolean): (() => void) | false {
    // 9. A peer that reset the connection before it was handed to us (HAProxy's
    // checks close that way) has no address left: it cannot be judged as a trusted
    // proxy, and there is no one to serve. Taken for a client, its PROXY header would
    // have been fed to TLS or SMTP and logged as a failed handshake from "".
    if (socket.remoteAddress === undefined) {
      socket.on('error', () => {});
      socket.destroy();
      return false;
    }
    const gate = this.gate;
    if (gate && !gate.accept(socket, this._expectsProxyHeader(socket))) {
      unpause(socket);
      return false;
    }
    // 10. Another process serves it: the gate keeps its slots until that process says it closed.
    if (this.handOff?.(socket)) return false;
    unpause(socket);
    const release = super._acceptSocket(socket, handshake);
    if (!gate || !release || !handshake) return release;
    const timer = setTimeout(() => {
      this.expired.add(socket);
      if (!this.local.has(socket)) gate.handshakeFailed(socket, socket.remoteAddress, 'timeout');
      gate.letGo(socket);
      // The topmost socket: tearing a TLS wrap down from below mid-handshake crashes Node.
      (this._pendingSockets.get(socket) ?? socket).destroy();
    }, gate.handshakeMs());
    timer.unref();
    const clear = () => clearTimeout(timer);
    socket.once('close', clear);
    return () => {
      clear();
      release();
    };
  }

  // 8. A failed implicit-TLS handshake: logged by the gate (throttled), not emitted as a server 'error'.
  override _upgrade(socket: Socket, callback: UpgradeCallback): void {
    const gate = this.gate;
    if (!gate) return super._upgrade(socket, callback);
    super._upgrade(socket, (err, tlsSocket) => {
      if (!err) return callback(null, tlsSocket);
      if (!this.expired.has(socket) && !this.local.has(socket)) gate.handshakeFailed(socket, socket.remoteAddress, err.message);
      gate.letGo(socket);
      socket.destroy();
    });
  }

  override _expectsProxyHeader(socket: Socket): boolean {
    return this.options.useProxy ? this.trustProxy(socket.remoteAddress ?? '') : false;
  }

  // 9. A LOCAL connection: the flag is read by the patched init(), which connect() calls synchronously.
  connectingLocal = false;

  override connect(socket: Socket, socketOptions: Parameters<SMTPServer['connect']>[1]): void {
    if (!(socketOptions as ProxySocketOptions | undefined)?.proxyLocal) return super.connect(socket, socketOptions);
    this.connectingLocal = true;
    try {
      super.connect(socket, socketOptions);
    } finally {
      this.connectingLocal = false;
    }
  }

  // 6. Cheaper session ids; 9. our PROXY reader.
  override _handleProxy(socket: Socket, callback: Parameters<SMTPServer['_handleProxy']>[1]): void {
    const id = sessionId();
    if (!this._expectsProxyHeader(socket)) {
      const ignore = Boolean(this.options.ignoredHosts?.includes(socket.remoteAddress ?? ''));
      setImmediate(() => callback(null, { id, ignore }));
      return;
    }
    readProxyHeader(socket, (outcome) => {
      if (!outcome.ok) {
        if (!outcome.quiet) this.gate?.proxyFailed(socket, outcome.reason);
        this.gate?.letGo(socket);
        socket.destroy();
        return callback(new Error(outcome.reason));
      }
      const h = outcome.header;
      const options: ProxySocketOptions = { id };
      if (h.local) options.proxyLocal = true;
      else {
        options.remoteAddress = h.source;
        options.remotePort = h.sourcePort;
        // v1 has no LOCAL: HAProxy's v1 health checks name the proxy itself as the client. Same address either way.
        if (clientText(h.source) === clientText(socket.remoteAddress)) options.proxyLocal = true;
      }
      if (options.proxyLocal) this.local.add(socket);
      const client = options.remoteAddress ?? socket.remoteAddress ?? '';
      options.ignore = Boolean(this.options.ignoredHosts?.includes(client));
      // 8. The header names the client: now it takes that client's slot.
      const claimed = this.gate ? this.gate.claim(socket, client) : true;
      if (claimed === true) return callback(null, options);
      if (claimed === false) return callback(new Error('connection limit'));
      // 10. A worker asks the primary; an answer that does not come is a refusal (the stand-in closes the socket).
      claimed.then(
        (ok) => (ok ? callback(null, options) : callback(new Error('connection limit'))),
        (err: Error) => callback(err),
      );
    });
  }
}

/**
 * 10. A socket accepted paused (pauseOnConnect) and served here: reading as
 * net.Socket starts a fresh one (flowing undecided, a read(0) to start the
 * handle), so that the PROXY reader, TLS and the SMTP parser see it unchanged.
 */
function unpause(socket: Socket): void {
  const state = socket as Socket & { readableFlowing: boolean | null; _handle?: { reading?: boolean } | null };
  if (state.readableFlowing !== false || !state._handle || state._handle.reading) return;
  state.readableFlowing = null;
  socket.read(0);
}

/** What the reader hands smtp-server's connect(): its own fields, and our LOCAL mark. */
interface ProxySocketOptions {
  id: string;
  ignore?: boolean;
  remoteAddress?: string;
  remotePort?: number;
  proxyLocal?: boolean;
}

const BASE32 = '0123456789abcdefghijklmnopqrstuv';

/** 16 characters of base32 (the library's alphabet: BigInt's toString(32)). */
function sessionId(): string {
  const r = pooledRandom(10);
  let out = '';
  // 80 bits as 16 groups of 5.
  let acc = 0;
  let bits = 0;
  for (const byte of r) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

export { SMTPConnection };
