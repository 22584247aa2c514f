// The SMTP wiring of one listener: each smtp-server callback becomes one
// question to the checks (src/checks: the relay rules first, then the spam
// checks, each at its stage), one log line and one reply. Every refusal, from
// any layer, is a MailError and goes to the client through reply(), the one
// place that counts it toward limits.max_errors. DATA goes to
// src/smtp/receive-message.ts, which answers once, with a 250 only after the
// store has committed the message. Anything unexpected answers 4xx.

import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { MailError } from '../core/mail-error.ts';
import type { Logger } from '../log/logger.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { parsePath } from '../address/path.ts';
import type { NotifyOn } from '../queue/envelope.ts';
import type { ClaimRequest, Committed, QueueStore } from '../queue/queue-store.ts';
import type { Fields, PathInput } from '../checks/check.ts';
import { acceptedPath } from '../checks/paths.ts';
import type { CheckRunner, StageResult } from '../checks/runner.ts';
import type { AuthThrottlePort } from './auth-throttle.ts';
import { ConnectionLimits } from './connection-limits.ts';
import { bareNewlineMode } from './bare-newline.ts';
import { gateCommand } from './command-gate.ts';
import { login } from './login.ts';
import { receiveMessage, type IncomingRecipient } from './receive-message.ts';
import { forgetMailParameters, newConnState, sessionBase, unbracketed, type ConnState } from './session-state.ts';
import { isProxyLocal, type PatchedOptions, type WirePath } from './smtp-server-patches.ts';

/** What the whole daemon shares between listeners. */
export interface FrontEndShared {
  snapshot(): Snapshot;
  store: QueueStore;
  logger: Logger;
  throttle: AuthThrottlePort;
  connections: ConnectionLimits;
  /** The checks of the session (src/checks/registry.ts, with the daemon's services). */
  runner: CheckRunner;
  /** Told of every committed message (the queue manager starts its delivery). */
  onQueued?: (committed: Committed) => void;
  /** Whether a commit should claim its message for this node's delivery at once, and how (the scheduler's answer). */
  claim?: () => ClaimRequest | undefined;
  /** In-flight DATA commits, so that shutdown can wait for them. */
  inFlight: { count: number; idle: () => void };
}

type Reply = (err?: Error | null) => void;

/**
 * What a load balancer's SMTP health check says (HAProxy's `option smtpchk`:
 * HELO, then QUIT). A LOCAL connection that says only these is not logged.
 */
const HEALTH_CHECK_VERBS = new Set(['HELO', 'EHLO', 'NOOP', 'RSET', 'QUIT']);
const UNAVAILABLE = () => new MailError(421, '4.3.0', 'Service temporarily unavailable', { rule: 'internal' });
const SESSION_LOST = () => new MailError(421, '4.3.0', 'Session lost', { rule: 'internal' });
const BAD_SEQUENCE = () => new MailError(503, '5.5.1', 'Bad sequence of commands', { rule: 'syntax' });

/**
 * The trail of a stage's log line: the relay rules' reasons; for a refusal by
 * another check, its reason (at connect after the rules' own, which say who
 * the client is).
 */
function trailOf(r: StageResult, stage: 'connect' | 'mail' | 'rcpt'): readonly string[] {
  const rules = r.decision?.trail ?? [];
  if (!r.error || r.by === 'relay') return rules;
  const reason = r.reason ?? r.error.reason;
  return stage === 'connect' ? [...rules, reason] : [reason];
}

/** A refusal as it goes to the client, counted toward max_errors: past it, 421 (the connection closes). */
function counted(st: ConnState | undefined, err: MailError): MailError {
  if (!st || err.code === 421) return err;
  st.errors++;
  return st.errors >= st.snap.settings.limits.max_errors ? new MailError(421, '4.7.0', 'Too many errors, closing connection', { rule: 'limits.max_errors' }) : err;
}

/**
 * The fields of a refusal's log line for the reply actually sent (`sent`,
 * from counted()): when the error limit turned it into the 421, the line says
 * 421 and limits.max_errors (tracking and the metrics read it), and
 * `refused_for` keeps the refusal the command earned on its own.
 */
function refusalFields(sent: MailError, earned: MailError): Fields {
  const line: Fields = { action: sent.temporary ? 'tempfail' : 'reject', code: sent.code, text: sent.text, rule: sent.rule };
  if (sent !== earned) line.refused_for = { code: earned.code, text: earned.text, rule: earned.rule };
  return line;
}

function pathInput(address: SMTPServerAddress, session: SMTPServerSession, allowNull: boolean): PathInput {
  const w = address as unknown as WirePath;
  return { raw: w.address, path: parsePath(w.address, { allowNull, requireBrackets: true }), unsupported: w.unsupported, paramError: w.paramError, smtputf8: session.envelope.smtpUtf8 === true, wire: true };
}

class FrontEnd {
  private readonly states = new Map<string, ConnState>();
  private readonly listener: ListenerDef;
  private readonly shared: FrontEndShared;

  constructor(listener: ListenerDef, shared: FrontEndShared) {
    this.listener = listener;
    this.shared = shared;
  }

  /** The one place a refusal goes to the client: counted toward max_errors; past it, 421 and the connection closes. */
  private reply(st: ConnState | undefined, cb: Reply, err: MailError | null): void {
    cb(err && counted(st, err));
  }

  /** A refusal whose log line is written here: counted first, so that the line carries the reply sent. */
  private replyLogged(st: ConnState, cb: Reply, err: MailError, log: (refusal: Fields) => void): void {
    const sent = counted(st, err);
    log(refusalFields(sent, err));
    cb(sent);
  }

  private base(st: ConnState, session: SMTPServerSession) {
    return sessionBase(st, this.listener, session);
  }

  onConnect(session: SMTPServerSession, cb: Reply): void {
    const { logger } = this.shared;
    let snap: Snapshot;
    try {
      snap = this.shared.snapshot();
    } catch (err) {
      logger.log('connect.error', { cid: session.id, listener: this.listener.name, error: String(err) });
      return cb(UNAVAILABLE());
    }
    const ip = parseIp(session.remoteAddress);
    if (!ip.ok) return cb(new MailError(421, '4.3.0', 'Cannot read client address', { rule: 'internal' }));
    // The connection limits were applied at the TCP accept (src/smtp/connection-gate.ts).
    const st = newConnState(snap, { ip: ip.value, text: formatIp(ip.value) });
    // AUTH is neither offered nor accepted before TLS (it comes back in onSecure).
    if (!session.secure) session.disabledCommands = ['AUTH'];
    this.states.set(session.id, st);
    // A trusted proxy speaking for itself (PROXY LOCAL: its health checks) is served with its own
    // address; the checks beyond the relay rules (blocklists) are not asked about our own load balancer.
    const local = isProxyLocal(session);
    this.shared.runner.run('connect', this.base(st, session), null, local ? ['relay'] : null).then(
      (r) => this.connected(session, st, r, local, cb),
      (err: unknown) => {
        logger.log('connect.error', { cid: session.id, listener: this.listener.name, error: String(err) });
        cb(UNAVAILABLE());
      },
    );
  }

  private connected(session: SMTPServerSession, st: ConnState, r: StageResult, local: boolean, cb: Reply): void {
    st.connectLog = r.log;
    const line: Fields = {
      cid: session.id,
      client: st.client.text,
      listener: this.listener.name,
      revision: st.snap.revision,
      action: r.error ? (r.error.temporary ? 'tempfail' : 'reject') : 'accept',
      ...(r.error ? { code: r.error.temporary ? 421 : r.error.code, text: r.error.text } : {}),
      rule: r.error?.rule ?? r.decision?.rule,
      trail: trailOf(r, 'connect'),
      ...(Object.keys(r.log).length ? { checks: r.log } : {}),
      ...(local ? { proxy: 'local' } : {}),
    };
    if (local && !r.error) st.heldConnect = line;
    else this.shared.logger.log('connect', line);
    // Refused at connect: smtp-server closes the connection; a temporary refusal there is a 421.
    cb(r.error && r.error.temporary ? new MailError(421, r.error.enhanced, r.error.text, { rule: r.error.rule }) : r.error);
  }

  onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, response?: { user: string }) => void): void {
    const st = this.states.get(session.id);
    if (!st) return cb(SESSION_LOST());
    void login({ runner: this.shared.runner, throttle: this.shared.throttle, logger: this.shared.logger }, this.base(st, session), session.id, auth.username ?? '', auth.password ?? '').then((r) => {
      if ('user' in r) {
        st.user = r.user;
        return cb(null, { user: r.user.name });
      }
      this.reply(st, (err) => cb(err), r.error);
    });
  }

  /** Before smtp-server dispatches each command (patch 7): what the session may not use yet. */
  commandGate(command: string, session: SMTPServerSession, secure: boolean): MailError | null {
    const st = this.states.get(session.id);
    if (st?.heldConnect && !HEALTH_CHECK_VERBS.has(command)) {
      // More than a health check: this LOCAL session is logged like any other from here on.
      this.shared.logger.log('connect', st.heldConnect);
      st.heldConnect = null;
    }
    const g = gateCommand(this.listener.mode, command, { secure, authenticated: st?.user != null });
    if (!g) return null;
    const earned = new MailError(g.code, g.enhanced, g.text, { rule: 'command' });
    const sent = counted(st, earned);
    // The line carries the reply sent: the error limit's 421 when this refusal reached it.
    this.shared.logger.log('command.refused', { cid: session.id, client: st?.client.text, listener: this.listener.name, command, code: sent.code, reason: sent.text, ...(sent !== earned ? { rule: sent.rule, refused_for: { code: earned.code, text: earned.text } } : {}) });
    return sent;
  }

  onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, cb: Reply): void {
    const st = this.states.get(session.id);
    if (!st) return cb(SESSION_LOST());
    st.tx = null;
    const n = ++st.mails;
    const input = pathInput(address, session, true);
    this.shared.runner.run('mail', this.base(st, session), input).then(
      (r) => {
        if (r.error) {
          // The library applied the parameters before asking us: a refused MAIL must not leave them for the next one.
          forgetMailParameters(session);
          const trail = trailOf(r, 'mail');
          return this.replyLogged(st, cb, r.error, (refusal) =>
            this.shared.logger.log('mail', { cid: session.id, client: st.client.text, helo: session.hostNameAppearsAs || null, tx: n, sender: unbracketed(input.raw), ...refusal, trail }),
          );
        }
        st.checkLog = { ...st.connectLog, ...r.log };
        st.tx = { sender: acceptedPath(input.path).stored, n, recipients: [], seen: new Set() };
        cb();
      },
      () => {
        forgetMailParameters(session);
        cb(new MailError(451, '4.3.0', 'Temporary local problem', { rule: 'internal' }));
      },
    );
  }

  onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, cb: Reply): void {
    const st = this.states.get(session.id);
    const tx = st?.tx;
    if (!st || !tx) return this.reply(st, cb, BAD_SEQUENCE());
    const input = pathInput(address, session, false);
    const { stored, key } = acceptedPath(input.path);
    const repeat = input.path.ok && tx.seen.has(key);
    // The sender, HELO name and transaction number are for message tracking (src/tracking): the line is its RCPT record.
    const log = (fields: Fields) =>
      this.shared.logger.log('rcpt', { cid: session.id, client: st.client.text, user: st.user?.name ?? null, helo: session.hostNameAppearsAs || null, tx: tx.n, sender: tx.sender, recipient: unbracketed(input.raw), ...fields });
    this.shared.runner.run('rcpt', this.base(st, session), { ...input, sender: tx.sender, accepted: tx.recipients.length, repeat }).then(
      (r) => {
        const d = r.decision;
        const checks = Object.keys(r.log).length ? { checks: r.log } : {};
        if (r.error) {
          const kind = r.by === 'relay' ? { kind: d?.kind ?? null } : {};
          const trail = trailOf(r, 'rcpt');
          return this.replyLogged(st, cb, r.error, (refusal) => log({ ...refusal, ...kind, trail, ...checks }));
        }
        // One mailbox, one delivery: a repeat is acknowledged and costs no recipient slot.
        if (repeat) {
          log({ action: 'accept', duplicate: true, code: d?.code, kind: d?.kind, rule: d?.rule });
          return cb();
        }
        log({ action: 'accept', code: d?.code, kind: d?.kind, rule: d?.rule, trail: d?.trail, ...checks });
        Object.assign(st.checkLog, r.log);
        tx.seen.add(key);
        tx.recipients.push(recipientOf(address, stored, r));
        cb();
      },
      () => cb(new MailError(451, '4.3.0', 'Temporary local problem', { rule: 'internal' })),
    );
  }

  onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): void {
    const st = this.states.get(session.id);
    const tx = st?.tx;
    if (!st || !tx || tx.recipients.length === 0) {
      stream.resume();
      stream.on('end', () => this.reply(st, cb, new MailError(503, '5.5.1', 'No valid recipients', { rule: 'syntax' })));
      return;
    }
    const { shared } = this;
    const base = this.base(st, session);
    const incoming = {
      id: shared.store.nextId(),
      listener: this.listener,
      base,
      relayRight: shared.runner.audience(base).right.right,
      checkLog: st.checkLog,
      sender: tx.sender,
      recipients: tx.recipients,
      bareNewline: bareNewlineMode(st.snap, st.client, st.user !== null),
      session,
    };
    // receiveMessage answers once and never rejects; the count that
    // shutdown waits on goes down exactly once, with the one reply.
    shared.inFlight.count++;
    void receiveMessage({ store: shared.store, logger: shared.logger, runner: shared.runner, claim: shared.claim }, incoming, stream as AsyncIterable<Buffer>).then((outcome) => {
      st.tx = null;
      shared.inFlight.count--;
      if (shared.inFlight.count === 0) shared.inFlight.idle();
      try {
        if (outcome.error) this.reply(st, cb, outcome.error);
        else cb(null, outcome.message);
      } catch (err) {
        shared.logger.log('data.error', { id: incoming.id, cid: session.id, error: `reply: ${err instanceof Error ? err.message : String(err)}` });
      }
      // The message is committed and answered: a failure to start its
      // delivery now is logged, and the queue's next scan picks it up.
      if (outcome.queued) {
        try {
          shared.onQueued?.(outcome.queued);
        } catch (err) {
          shared.logger.log('queued.notify_error', { id: incoming.id, error: err instanceof Error ? err.message : String(err) });
        }
      }
    });
  }

  onClose(session: SMTPServerSession): void {
    const st = this.states.get(session.id);
    if (!st) return;
    this.states.delete(session.id);
    // A health check's connection was never logged: neither is its end.
    if (st.heldConnect) return;
    this.shared.logger.log('disconnect', { cid: session.id, client: st.client.text });
  }
}

function recipientOf(address: SMTPServerAddress, stored: string, r: StageResult): IncomingRecipient {
  const dsn = (address as unknown as { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
  if (!r.decision) throw new Error('a recipient was accepted without a decision of the relay rules');
  const entry: IncomingRecipient = { address: stored, decision: r.decision };
  if (dsn?.notify?.length) entry.notify = dsn.notify.map((n) => n.toUpperCase() as NotifyOn);
  if (dsn?.orcpt) entry.orcpt = dsn.orcpt;
  return entry;
}

export function frontEndOptions(listener: ListenerDef, shared: FrontEndShared, base: SMTPServerOptions): PatchedOptions {
  const fe = new FrontEnd(listener, shared);
  return {
    ...base,
    onConnect: (session, cb) => fe.onConnect(session, cb),
    onSecure(_socket, session, cb) {
      session.disabledCommands = [];
      cb();
    },
    onAuth: (auth, session, cb) => fe.onAuth(auth, session, cb),
    commandGate: (command: string, session: SMTPServerSession, secure: boolean) => fe.commandGate(command, session, secure),
    onMailFrom: (address, session, cb) => fe.onMailFrom(address, session, cb),
    onRcptTo: (address, session, cb) => fe.onRcptTo(address, session, cb),
    onData: (stream, session, cb) => fe.onData(stream, session, cb),
    onClose: (session) => fe.onClose(session),
  };
}
