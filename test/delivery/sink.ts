// A programmable SMTP server ("next hop") for the delivery tests, built on
// smtp-server. It listens on 127.0.0.1 (or another loopback address) only,
// records every accepted message byte for byte, and answers each stage the
// way the test tells it to: a refused or dropped greeting, per-recipient
// 4xx/5xx, a rejected or dropped end of DATA, STARTTLS with a certificate
// from selfSignedCert(), AUTH, DSN parameters. What it announces in its EHLO
// reply can be cut down to what an old next hop offers (no 8BITMIME, no
// SMTPUTF8, no DSN, no PIPELINING); the MAIL and RCPT parameters it received
// are recorded as sent (smtp-server decodes xtext), whatever it announced.
//
// Replies: a Reply's text is sent verbatim after the code ("550 5.1.1 no such
// user" when the text starts with an enhanced code): the sink does not
// advertise ENHANCEDSTATUSCODES, so smtp-server adds none of its own. 'drop'
// destroys the TCP connection without any reply. MAIL and RCPT can only be
// accepted with smtp-server's own "250 Accepted", so a Reply below 400 there
// means "accept". A behaviour callback may return a promise (one that never
// settles makes the sink hang at that stage, for timeout tests).
//
// NB: src/smtp/smtp-server-patches.ts patches smtp-server's connection class
// process-wide when it is imported. Should a test load it into the same
// process, the sink is patched too: it then greets at once (no 100 ms early
// talker delay), and paths reach it with their brackets, which the sink strips.

import { SMTPServer, type SMTPServerAddress, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { isIP, type Socket } from 'node:net';
import { generate } from 'selfsigned';

export interface Reply {
  code: number;
  text: string;
}

/** What a behaviour callback may answer: undefined accepts (250). */
export type Answer = Reply | 'drop' | undefined;

/** SMTP parameters of MAIL FROM or RCPT TO as sent, keys upper case; a keyword without value is `true`. */
export type SmtpParams = Record<string, string | true>;

/** The state of the connection a MAIL FROM or RCPT TO arrives on. */
export interface SinkContext {
  /** 1 for the first connection the sink accepted, 2 for the next... */
  connection: number;
  client: string;
  secure: boolean;
  user: string | null;
  ehlo: string;
  /** The sender of the current transaction (null while handling MAIL FROM itself). */
  from: string | null;
  /** Parameters of the command being handled. */
  params: SmtpParams;
}

export interface SinkBehaviour {
  /** 'ok' (default) greets 220; a Reply of 400 or more refuses (the sink then closes); 'drop' closes at once. */
  greeting?: 'ok' | Reply | 'drop';
  mailFrom?: (from: string, ctx: SinkContext) => Answer | Promise<Answer>;
  rcpt?: (to: string, ctx: SinkContext) => Answer | Promise<Answer>;
  /** At the end of DATA; a Reply below 400 accepts with that text ("250 <text>"). */
  data?: (msg: ReceivedMessage) => Answer | Promise<Answer>;
}

export interface ReceivedRecipient {
  address: string;
  params: SmtpParams;
  /** DSN NOTIFY values, upper case (only when the sink runs with dsn: true). */
  notify?: string[];
  /** DSN ORCPT as received (only with dsn: true). */
  orcpt?: string;
}

export interface ReceivedMessage {
  from: string;
  /** Accepted recipients, in order. */
  to: string[];
  rcpts: ReceivedRecipient[];
  /** The message as smtp-server hands it over: after dot-unstuffing, without the final ".\r\n". */
  raw: Buffer;
  /** Remote address of the client. */
  client: string;
  secure: boolean;
  user: string | null;
  ehlo: string;
  /** MAIL FROM parameters (SIZE, BODY, SMTPUTF8, RET, ENVID...) as sent, keys upper case. */
  params: SmtpParams;
  /** DSN RET and ENVID as smtp-server parsed them (only with dsn: true). */
  dsn: { ret: string | null; envid: string | null } | null;
  /** Which connection (1-based, see Sink.connections) carried it. */
  connection: number;
}

/** One command the sink answered, in order; `code` is what it replied or 'drop'. */
export interface SinkEvent {
  connection: number;
  command: 'CONNECT' | 'AUTH' | 'MAIL' | 'RCPT' | 'DATA';
  /** CONNECT: the client address; AUTH: the user name; MAIL/RCPT: the address; DATA: ''. */
  arg: string;
  code: number | 'drop';
}

export interface SinkOptions {
  /** A loopback address; default 127.0.0.1. */
  address?: string;
  /** Default: a free port chosen by the kernel. */
  port?: number;
  behaviour?: SinkBehaviour;
  /** Offer STARTTLS with this certificate; without it STARTTLS is not offered. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** TLS from the first byte (smtps); needs `tls`. */
  implicitTls?: boolean;
  /** When set, AUTH PLAIN/LOGIN with these credentials is required before MAIL; otherwise AUTH is not offered. */
  auth?: { username: string; password: string };
  /** Allow AUTH before STARTTLS even though STARTTLS is offered (without `tls` AUTH works in clear anyway). */
  allowInsecureAuth?: boolean;
  /** Advertise and parse DSN (RFC 3461). */
  dsn?: boolean;
  /** Advertise 8BITMIME (RFC 6152); default true. */
  eightBitMime?: boolean;
  /** Advertise SMTPUTF8 (RFC 6531); default true. */
  smtputf8?: boolean;
  /** Advertise PIPELINING (RFC 2920); default true. */
  pipelining?: boolean;
  /** The SIZE limit advertised (and enforced with 552); default 50 MiB. */
  size?: number;
  /** The name in the greeting and EHLO reply; default sink.test.example. */
  name?: string;
}

export interface Sink {
  address: string;
  port: number;
  /** Accepted messages, in order. */
  messages: ReceivedMessage[];
  /** Connections accepted so far (including refused and dropped ones). */
  readonly connections: number;
  /** Connections open now. */
  readonly open: number;
  events: SinkEvent[];
  /**
   * MAIL FROM and RCPT TO lines exactly as they arrived (UTF-8), before
   * smtp-server parses them (it turns A-labels into U-labels). Connections
   * without TLS only: a TLS connection's bytes are not readable here.
   */
  commands: { connection: number; line: string }[];
  /** Resolves once messages.length >= n; rejects after timeoutMs (default 10 s). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  setBehaviour(b: SinkBehaviour): void;
  /** Destroys open connections and stops listening. */
  close(): Promise<void>;
}

type Session = SMTPServerSession & { user?: unknown };

/** Paths reach us without brackets, unless src/smtp/smtp-server-patches.ts is loaded (see top). */
function bare(address: string): string {
  return address.length >= 2 && address.startsWith('<') && address.endsWith('>') ? address.slice(1, -1) : address;
}

function smtpError(r: Reply): Error & { responseCode: number } {
  return Object.assign(new Error(r.text), { responseCode: r.code });
}

export async function startSink(opts: SinkOptions = {}): Promise<Sink> {
  const address = opts.address ?? '127.0.0.1';
  if (!address.startsWith('127.')) throw new Error(`the sink listens on loopback only, not ${address}`);
  if (opts.implicitTls && !opts.tls) throw new Error('implicitTls needs tls: { key, cert }');

  let behaviour: SinkBehaviour = opts.behaviour ?? {};
  let connections = 0;
  let closedSessions = 0;
  const messages: ReceivedMessage[] = [];
  const events: SinkEvent[] = [];
  const commands: { connection: number; line: string }[] = [];
  const errors: Error[] = [];
  const waiters = new Set<() => void>();
  // Raw sockets by "address:port" of the client, with the connection ordinal.
  const sockets = new Map<string, { socket: Socket; n: number }>();

  const keyOf = (session: Session): string => `${session.remoteAddress}:${session.remotePort}`;
  const connOf = (session: Session): number => sockets.get(keyOf(session))?.n ?? 0;
  const drop = (session: Session): void => {
    sockets.get(keyOf(session))?.socket.destroy();
  };
  const userOf = (session: Session): string | null => (typeof session.user === 'string' ? session.user : null);
  const ctxOf = (session: Session, params: SMTPServerAddress['args'], from: string | null): SinkContext => ({
    connection: connOf(session),
    client: session.remoteAddress,
    secure: session.secure,
    user: userOf(session),
    ehlo: session.hostNameAppearsAs || '',
    from,
    params: { ...(params || {}) },
  });
  const record = (session: Session, command: SinkEvent['command'], arg: string, code: number | 'drop'): void => {
    events.push({ connection: connOf(session), command, arg, code });
  };
  // A behaviour that throws becomes a 451 so the test sees it rather than a hang.
  const ask = async (fn: () => Answer | Promise<Answer>): Promise<Answer> => {
    try {
      return await fn();
    } catch (err) {
      errors.push(err as Error);
      return { code: 451, text: `sink behaviour threw: ${(err as Error).message}` };
    }
  };

  const disabledCommands: string[] = [];
  if (!opts.tls) disabledCommands.push('STARTTLS');
  if (!opts.auth) disabledCommands.push('AUTH');

  const options: SMTPServerOptions = {
    name: opts.name ?? 'sink.test.example',
    logger: false,
    disableReverseLookup: true,
    secure: !!opts.implicitTls,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    disabledCommands,
    authOptional: !opts.auth,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: !!opts.allowInsecureAuth,
    maxAllowedUnauthenticatedCommands: false,
    hideDSN: !opts.dsn,
    hide8BITMIME: opts.eightBitMime === false,
    hideSMTPUTF8: opts.smtputf8 === false,
    hidePIPELINING: opts.pipelining === false,
    size: opts.size ?? 50 * 1024 * 1024,
    rejectOversized: true,
    closeTimeout: 1000,

    // After STARTTLS the plain socket no longer reports its close: smtp-server's session does.
    onClose() {
      closedSessions++;
    },

    onConnect(session, callback) {
      const g = behaviour.greeting ?? 'ok';
      if (g === 'drop') {
        // Normally already destroyed on accept (below); a behaviour changed meanwhile lands here.
        record(session, 'CONNECT', session.remoteAddress, 'drop');
        drop(session);
        return;
      }
      if (g !== 'ok' && g.code >= 400) {
        record(session, 'CONNECT', session.remoteAddress, g.code);
        callback(smtpError(g));
        return;
      }
      record(session, 'CONNECT', session.remoteAddress, 220);
      callback();
    },

    onAuth(auth, session, callback) {
      const ok = !!opts.auth && (auth.method === 'PLAIN' || auth.method === 'LOGIN') && auth.username === opts.auth.username && auth.password === opts.auth.password;
      record(session, 'AUTH', auth.username ?? '', ok ? 235 : 535);
      if (ok) callback(null, { user: auth.username });
      else callback(null, { message: '5.7.8 Authentication credentials invalid', responseCode: 535 });
    },

    onMailFrom(addr, session, callback) {
      const from = bare(addr.address);
      void ask(() => behaviour.mailFrom?.(from, ctxOf(session, addr.args, null))).then((a) => {
        if (a === 'drop') {
          record(session, 'MAIL', from, 'drop');
          drop(session);
        } else if (a && a.code >= 400) {
          record(session, 'MAIL', from, a.code);
          callback(smtpError(a));
        } else {
          record(session, 'MAIL', from, 250);
          callback();
        }
      });
    },

    onRcptTo(addr, session, callback) {
      const to = bare(addr.address);
      const mf = session.envelope.mailFrom;
      const from = mf ? bare(mf.address) : null;
      void ask(() => behaviour.rcpt?.(to, ctxOf(session, addr.args, from))).then((a) => {
        if (a === 'drop') {
          record(session, 'RCPT', to, 'drop');
          drop(session);
        } else if (a && a.code >= 400) {
          record(session, 'RCPT', to, a.code);
          callback(smtpError(a));
        } else {
          record(session, 'RCPT', to, 250);
          callback();
        }
      });
    },

    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.once('end', () => {
        const env = session.envelope;
        const mf = env.mailFrom;
        const msg: ReceivedMessage = {
          from: mf ? bare(mf.address) : '',
          to: env.rcptTo.map((r) => bare(r.address)),
          rcpts: env.rcptTo.map((r) => {
            const out: ReceivedRecipient = { address: bare(r.address), params: { ...(r.args || {}) } };
            if (r.dsn?.notify) out.notify = [...r.dsn.notify];
            if (r.dsn?.orcpt !== undefined) out.orcpt = r.dsn.orcpt;
            return out;
          }),
          raw: Buffer.concat(chunks),
          client: session.remoteAddress,
          secure: session.secure,
          user: userOf(session),
          ehlo: session.hostNameAppearsAs || '',
          params: { ...((mf && mf.args) || {}) },
          dsn: env.dsn ? { ret: env.dsn.ret, envid: env.dsn.envid } : null,
          connection: connOf(session),
        };
        if (stream.sizeExceeded) {
          // rejectOversized makes smtp-server answer 552 whatever we say.
          record(session, 'DATA', '', 552);
          callback(null);
          return;
        }
        void ask(() => behaviour.data?.(msg)).then((a) => {
          if (a === 'drop') {
            record(session, 'DATA', '', 'drop');
            drop(session);
          } else if (a && a.code >= 400) {
            record(session, 'DATA', '', a.code);
            callback(smtpError(a));
          } else {
            record(session, 'DATA', '', a?.code ?? 250);
            messages.push(msg);
            for (const w of [...waiters]) w();
            callback(null, a ? a.text : `Ok: queued as sink-${messages.length}`);
          }
        });
      });
    },
  };

  const server = new SMTPServer(options);
  // Failed handshakes, dropped sockets and the like: kept, never thrown.
  server.on('error', (err: Error) => errors.push(err));
  // smtp-server registered its own 'connection' handler first, so the
  // SMTPConnection exists (and cleans up on close) when we destroy a socket here.
  server.server.on('connection', (socket: Socket) => {
    const n = ++connections;
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(key, { socket, n });
    socket.once('close', () => {
      if (sockets.get(key)?.socket === socket) sockets.delete(key);
    });
    // A second reader of the same bytes: smtp-server's own 'data' listener is unaffected.
    let pending = '';
    socket.on('data', (d: Buffer) => {
      pending += d.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\r\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 2);
        if (/^(MAIL FROM|RCPT TO):/i.test(line)) commands.push({ connection: n, line });
      }
      // A message body is never needed here: keep the buffer short.
      if (pending.length > 4096) pending = pending.slice(-4096);
    });
    if (behaviour.greeting === 'drop') {
      events.push({ connection: n, command: 'CONNECT', arg: socket.remoteAddress ?? '', code: 'drop' });
      socket.destroy();
    }
  });

  await new Promise<void>((done, fail) => {
    const onError = (err: Error): void => fail(err);
    server.server.once('error', onError);
    server.server.listen(opts.port ?? 0, address, () => {
      server.server.off('error', onError);
      done();
    });
  });
  const bound = server.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : 0;

  let closed: Promise<void> | null = null;
  return {
    address,
    port,
    messages,
    events,
    commands,
    get connections() {
      return connections;
    },
    get open() {
      return connections - closedSessions;
    },
    waitFor(n: number, timeoutMs = 10_000): Promise<ReceivedMessage[]> {
      if (messages.length >= n) return Promise.resolve(messages);
      return new Promise((done, fail) => {
        const check = (): void => {
          if (messages.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          done(messages);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const tail = events.slice(-10).map((e) => `#${e.connection} ${e.command} ${e.arg} -> ${e.code}`).join('; ');
          fail(new Error(`sink: ${messages.length} of ${n} messages after ${timeoutMs} ms (${connections} connections; last events: ${tail || 'none'})`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    setBehaviour(b: SinkBehaviour): void {
      behaviour = b;
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((done) => {
        server.close(() => done());
        for (const { socket } of sockets.values()) socket.destroy();
      });
      return closed;
    },
  };
}

/**
 * A self-signed certificate (EC P-256, SHA-256) valid for the given names and
 * IP addresses, usable as its own trust anchor (`tls: { ca: cert }` on the client).
 */
export async function selfSignedCert(names: { dns?: string[]; ip?: string[] }): Promise<{ key: string; cert: string }> {
  const dns = names.dns ?? [];
  const ip = names.ip ?? [];
  for (const a of ip) if (!isIP(a)) throw new Error(`not an IP address: ${a}`);
  const cn = dns[0] ?? ip[0] ?? 'localhost';
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 60 * 60 * 1000),
    notAfterDate: new Date(Date.now() + 7 * 24 * 60 * 60 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...dns.map((value) => ({ type: 2 as const, value })), ...ip.map((a) => ({ type: 7 as const, ip: a }))],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
