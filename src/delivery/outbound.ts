// One outbound SMTP connection to a next hop, on nodemailer's smtp-connection:
// tries the targets in order (a connection failure, a TLS failure or a 4xx/5xx
// greeting moves on to the next), EHLO with our hostname, STARTTLS as the
// target's TLS level says (none: never; may: when offered, unchecked; encrypt:
// always, or no mail; verify: always, chain and name checked; see
// tls-policy.ts), AUTH when the route has credentials, then any number of
// transactions on the same connection,
// each answered per recipient. TCP_NODELAY is set on the socket: without it a
// message written in pieces waits on delayed ACKs.
//
// The library writes DSN parameters (RFC 3461) with one NOTIFY and ORCPT for
// every recipient of a message and SMTPUTF8 only for non-ASCII addresses;
// a relay owes each recipient its own and the message its SMTPUTF8. So the
// parameters come from src/delivery/transaction.ts and are appended to MAIL
// and to each RCPT at the one place the library writes commands.

import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
// Faster dot-stuffing for the library's DATA stream (same output).
import './dot-stuff.ts';
import { allRecipients, cleanText, errorText, fateOf, isCertificateError, statusOf, type RecipientOutcome, type SmtpClientError } from './outcome.ts';
import type { HopExtensions } from './transaction.ts';
import type { TlsLevel } from '../config/document.ts';

export interface Target {
  /** IP address to connect to. */
  host: string;
  port: number;
  /** The name we looked up (MX host, route host), for TLS and for reports. */
  name: string;
}

/** How one target is to be spoken to (decided by tls-policy.ts). */
export interface TargetTls {
  level: TlsLevel;
  /** CAs to check the peer against (verify; with may, only for the `tls` report); default: the system's. */
  ca?: string | Buffer | (string | Buffer)[] | undefined;
  /** The policy that asked for encrypt or verify, named in the diagnostic when it cannot be met. */
  why?: string;
}

export interface OutboundOptions {
  hostname: string;
  connectTimeoutMs: number;
  replyTimeoutMs: number;
  /** The TLS level of each target. */
  tls: (t: Target) => TargetTls;
  auth?: { user: string; pass: string } | undefined;
}

/** What the connection got: TLS or not, and whether the certificate checked out for the target's name. */
export interface SessionTls {
  level: TlsLevel;
  secure: boolean;
  /** The chain and the name checked (always true when secure under verify). */
  authorized: boolean;
  /** Why not authorized (a certificate error code), when secure. */
  error?: string;
  protocol?: string;
}

export interface OutboundMessage {
  from: string;
  to: string[];
  size: number;
  eightBit: boolean;
  /** Parameters appended to MAIL FROM (SMTPUTF8, RET, ENVID), already encoded. */
  mailParams?: string[];
  /** Parameters appended to each RCPT TO, in the order of `to` (NOTIFY, ORCPT). */
  rcptParams?: string[][];
  /** The message: a stream, or the whole of a small one. */
  stream: Readable | Buffer;
}

/** Why no connection could be made: what every recipient of the destination gets. */
export interface ConnectFailure {
  code: number | null;
  /** The next hop's reply when there was one (code set), else what went wrong, naming the host. */
  reply: string;
  /** RFC 3463 status when it is not the generic X.4.1 (a certificate that failed our check: 4.7.5). */
  status?: string;
  remote: string | null;
  /** Every target was tried. */
  tried: string[];
  /** The TLS policy that could not be met (status 4.7.5), as tls-policy.ts describes it. */
  tlsPolicy?: string;
}

/** The library's internals this file relies on (nodemailer 10.6.1, pinned in dot-stuff.ts). */
interface LibraryInternals {
  _sendCommand(str: string, logStr?: string): void;
  _supportedExtensions: string[];
}

const label = (t: Target) => (t.name === t.host ? `[${t.host}]:${t.port}` : `${t.name} [${t.host}]:${t.port}`);

function openOne(t: Target, o: OutboundOptions, tls: TargetTls): Promise<SMTPConnection> {
  const required = tls.level === 'encrypt' || tls.level === 'verify';
  const conn = new SMTPConnection({
    host: t.host,
    port: t.port,
    name: o.hostname,
    servername: t.name !== t.host ? t.name : undefined,
    connectionTimeout: o.connectTimeoutMs,
    greetingTimeout: o.connectTimeoutMs,
    socketTimeout: o.replyTimeoutMs,
    socketCloseTimeout: 1000,
    ignoreTLS: tls.level === 'none',
    requireTLS: required,
    // may: a STARTTLS that fails is not worth losing the delivery over.
    opportunisticTLS: tls.level === 'may',
    // Unchecked levels still name the host and pass the CAs, so that the session can report whether the certificate would have checked out.
    // An IP address is no SNI name (RFC 6066): then the library's host, the same address, is what the certificate is checked for.
    tls: { rejectUnauthorized: tls.level === 'verify', ca: tls.ca, servername: isIP(t.name) ? undefined : t.name },
    logger: false,
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      // Whatever ends the connection mid-handshake after the 220 to STARTTLS (the library's
      // handshake timeout, a reset, a TLS alert) is a failed handshake, whatever its code.
      if ((conn as unknown as { upgrading?: boolean }).upgrading === true) (err as SmtpClientError).duringHandshake = true;
      conn.close();
      reject(err);
    };
    conn.once('error', fail);
    conn.once('end', () => fail(Object.assign(new Error('connection closed by the next hop'), { code: 'ECONNECTION' })));
    conn.connect(() => {
      const socket = (conn as unknown as { _socket?: { setNoDelay?: (on: boolean) => void } })._socket;
      socket?.setNoDelay?.(true);
      if (!o.auth) {
        settled = true;
        conn.removeListener('error', fail);
        return resolve(conn);
      }
      conn.login({ user: o.auth.user, pass: o.auth.pass }, (err) => {
        if (err) return fail(err);
        settled = true;
        conn.removeListener('error', fail);
        resolve(conn);
      });
    });
  });
}

export class OutboundSession {
  readonly target: Target;
  readonly remote: string;
  private readonly conn: SMTPConnection;
  private broken = false;
  private dirty = false;

  /** Parameters of the transaction being written (see the top of the file). */
  private params: { mail: string[]; rcpt: string[][] } = { mail: [], rcpt: [] };
  /** RCPT commands written since the last MAIL FROM. */
  private rcptsWritten = 0;

  private readonly level: TlsLevel;

  private constructor(conn: SMTPConnection, target: Target, level: TlsLevel) {
    this.conn = conn;
    this.target = target;
    this.level = level;
    this.remote = label(target);
    const raw = conn as unknown as LibraryInternals;
    const write = raw._sendCommand.bind(raw);
    raw._sendCommand = (str: string, logStr?: string) => write(this.withParams(str), logStr);
    // Errors after the handshake reach the send callback; this keeps them from being unhandled.
    conn.on('error', () => {
      this.broken = true;
    });
    conn.on('end', () => {
      this.broken = true;
    });
  }

  /** Connects to the first target that greets and (when asked) authenticates. */
  static async open(targets: readonly Target[], o: OutboundOptions): Promise<{ ok: true; session: OutboundSession } | { ok: false; failure: ConnectFailure }> {
    const tried: string[] = [];
    let last: ConnectFailure = { code: null, reply: 'no host to connect to', remote: null, tried };
    for (const t of targets) {
      tried.push(label(t));
      const tls = o.tls(t);
      try {
        const conn = await openOne(t, o, tls);
        return { ok: true, session: new OutboundSession(conn, t, tls.level) };
      } catch (e) {
        const err = e as SmtpClientError;
        // A refused AUTH or a TLS policy that cannot be met is our configuration's
        // problem (or the peer's), not the mail's: never a bounce, always a deferral.
        const certificate = isCertificateError(err);
        // Under `may` a failed handshake is a connection failure as before; where TLS is required it is the policy's.
        const tlsFailed = certificate || ((err.code === 'ETLS' || err.duringHandshake === true) && (tls.level === 'encrypt' || tls.level === 'verify'));
        const policy = err.code === 'EAUTH' || err.code === 'ETLS' || certificate || tlsFailed;
        const code = policy ? null : (err.responseCode ?? null);
        const why = tlsFailed && tls.why ? ` (TLS ${tls.level} required by ${tls.why})` : '';
        last = { code, reply: code !== null ? errorText(err) : `${label(t)}: ${errorText(err)}${why}`, remote: label(t), tried };
        // RFC 3463 X.7.5: no STARTTLS, a failed handshake or a certificate that fails our check, where the policy requires TLS.
        if (tlsFailed) last.status = '4.7.5';
        if (tlsFailed && tls.why) last.tlsPolicy = tls.why;
        if (err.code === 'EAUTH') break;
      }
    }
    return { ok: false, failure: { ...last, tried } };
  }

  /** Whether the connection is encrypted and the certificate checked out for the target's name. */
  get tls(): SessionTls {
    const socket = (this.conn as unknown as { _socket?: { encrypted?: boolean; authorized?: boolean; authorizationError?: Error | string; getProtocol?: () => string | null } })._socket;
    if (!socket?.encrypted) return { level: this.level, secure: false, authorized: false };
    const out: SessionTls = { level: this.level, secure: true, authorized: socket.authorized === true };
    if (socket.authorizationError) out.error = String(socket.authorizationError);
    const protocol = socket.getProtocol?.();
    if (protocol) out.protocol = protocol;
    return out;
  }

  get usable(): boolean {
    return !this.broken;
  }

  /** What the next hop announced in its EHLO reply. */
  get extensions(): HopExtensions {
    const ext = (this.conn as unknown as LibraryInternals)._supportedExtensions;
    return { dsn: ext.includes('DSN'), smtputf8: ext.includes('SMTPUTF8'), eightBitMime: ext.includes('8BITMIME') };
  }

  /** MAIL FROM and RCPT TO with this transaction's parameters; every other command as it is. */
  private withParams(str: string): string {
    if (/^MAIL FROM:/i.test(str)) {
      this.rcptsWritten = 0;
      // The library adds SMTPUTF8 itself for a non-ASCII address: never twice.
      const add = this.params.mail.filter((p) => !(p === 'SMTPUTF8' && / SMTPUTF8\b/i.test(str)));
      return add.length ? `${str} ${add.join(' ')}` : str;
    }
    if (/^RCPT TO:/i.test(str)) {
      // The library writes the RCPTs in the order of `to`, with PIPELINING or without.
      const add = this.params.rcpt[this.rcptsWritten++] ?? [];
      return add.length ? `${str} ${add.join(' ')}` : str;
    }
    return str;
  }

  /** One transaction; every recipient comes back with its fate. */
  async send(m: OutboundMessage): Promise<RecipientOutcome[]> {
    if (this.dirty) await this.reset();
    if (this.broken) return allRecipients(m.to, null, 'connection lost before the transaction', this.remote);
    this.params = { mail: m.mailParams ?? [], rcpt: m.rcptParams ?? [] };
    return new Promise((resolve) => {
      this.conn.send({ from: m.from, to: m.to, size: m.size, use8BitMime: m.eightBit }, m.stream, (err, info) => {
        if (err) {
          this.dirty = true;
          resolve(this.failed(err as SmtpClientError, m.to));
          return;
        }
        const response = String(info?.response ?? '250');
        const rejected = new Map<string, SmtpClientError>();
        for (const r of (info?.rejectedErrors ?? []) as SmtpClientError[]) if (r.recipient) rejected.set(r.recipient, r);
        resolve(
          m.to.map((address) => {
            const r = rejected.get(address);
            if (r) return this.fromReply(address, r.responseCode ?? null, errorText(r));
            return this.fromReply(address, Number(response.slice(0, 3)) || 250, response);
          }),
        );
      });
    });
  }

  private fromReply(address: string, code: number | null, reply: string): RecipientOutcome {
    return { address, fate: code === null ? 'deferred' : fateOf(code), code, status: statusOf(code, reply), diagnostic: reply, remote: this.remote };
  }

  /** A transaction that failed as a whole, or per recipient when every one was refused. */
  private failed(err: SmtpClientError, to: string[]): RecipientOutcome[] {
    if (err.rejectedErrors?.length && err.command === 'RCPT TO') {
      const byAddress = new Map(err.rejectedErrors.map((r) => [r.recipient ?? '', r]));
      return to.map((address) => {
        const r = byAddress.get(address);
        return r ? this.fromReply(address, r.responseCode ?? null, errorText(r)) : this.fromReply(address, null, errorText(err));
      });
    }
    // A size refusal before sending (the peer's SIZE) is permanent.
    if (err.code === 'EMESSAGE' && !err.responseCode && /size/i.test(err.message)) {
      // Our own words, not a reply: no code (the notification's diagnostic is then x-mailwarden).
      return to.map((address) => ({ address, fate: 'failed', code: null, status: '5.3.4', diagnostic: `not sent: ${cleanText(err.message)} (the next hop's SIZE limit)`, remote: this.remote }));
    }
    if (!err.responseCode) this.broken = true;
    return allRecipients(to, err.responseCode ?? null, errorText(err), this.remote);
  }

  private reset(): Promise<void> {
    return new Promise((resolve) => {
      this.conn.reset((err) => {
        if (err) this.broken = true;
        this.dirty = false;
        resolve();
      });
    });
  }

  /** QUIT when the connection is still good, else just close. */
  close(): void {
    if (this.broken) this.conn.close();
    else this.conn.quit();
  }
}
