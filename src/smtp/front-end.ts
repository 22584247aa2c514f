// The SMTP handlers of one listener: every wire command asks the relay rules
// (src/policy/rules.ts) with the snapshot the connection pinned at connect,
// and DATA goes to src/smtp/receive-message.ts, which answers once. A 250 after DATA
// comes only once the spool has committed the message (fsync, rename,
// directory fsync). Anything unexpected answers 4xx: the sender keeps the mail.

import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { Decision } from '../core/decision.ts';
import { durationMs } from '../core/duration.ts';
import type { Logger } from '../log/logger.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { verifyPasswordAsync } from '../objects/password.ts';
import { domainKey, parsePath, type PathResult } from '../address/path.ts';
import { decideAuth, decideConnect, decideRecipient, decideSender, relayRight, type Client } from '../policy/rules.ts';
import type { NotifyOn } from '../queue/envelope.ts';
import { newQueueId } from '../queue/queue-id.ts';
import type { AntispamChecks, ConnectionFacts, Refusal } from '../antispam/checks.ts';
import type { DnsblOutcome } from '../antispam/dnsbl.ts';
import type { ClaimRequest, Committed, QueueStore } from '../queue/queue-store.ts';
import { AuthThrottle } from './auth-throttle.ts';
import { ConnectionLimits } from './connection-limits.ts';
import { bareNewlineMode } from './bare-newline.ts';
import { receiveMessage, type IncomingMessage } from './receive-message.ts';
import { isProxyLocal, type PatchedOptions, type WirePath } from './smtp-server-patches.ts';
import { gateCommand } from './command-gate.ts';
import { decisionError, smtpError, type ReplyError } from './smtp-reply.ts';

/** What the whole daemon shares between listeners. */
export interface FrontEndShared {
  snapshot(): Snapshot;
  store: QueueStore;
  logger: Logger;
  throttle: AuthThrottle;
  connections: ConnectionLimits;
  /** Told of every committed message (the queue manager starts its delivery). */
  onQueued?: (committed: Committed) => void;
  /** Whether a commit should claim its message for this node's delivery at once, and how (the scheduler's answer). */
  claim?: () => ClaimRequest | undefined;
  /** In-flight DATA commits, so that shutdown can wait for them. */
  inFlight: { count: number; idle: () => void };
  /** The origin checks (blocklists, SPF, HELO, greylisting); absent: none run. */
  checks?: AntispamChecks;
}

interface Transaction {
  /** '' for the null sender; otherwise the mailbox with its domain normalised. */
  sender: string;
  recipients: { address: string; decision: Decision; notify?: NotifyOn[]; orcpt?: string }[];
  /** Mailbox keys of the recipients so far, to take each mailbox once. */
  seen: Set<string>;
}

interface ConnState {
  snap: Snapshot;
  client: Client;
  user: string | null;
  errors: number;
  tx: Transaction | null;
  /** What the origin checks know of this client. */
  origin: ConnectionFacts;
  /** The blocklist answer at connect, when it waits for MAIL FROM or scores. */
  dnsbl: DnsblOutcome | null;
  /** Check results of the connection (at connect), and of the transaction so far. */
  connectLog: Record<string, unknown>;
  checkLog: Record<string, unknown>;
  /**
   * The connect line of a trusted proxy's LOCAL connection, held back until
   * it does more than a health check does (HEALTH_CHECK_VERBS); null once
   * logged, or for any other connection.
   */
  heldConnect: Record<string, unknown> | null;
}

/**
 * What a load balancer's SMTP health check says (HAProxy's `option smtpchk`:
 * HELO, then QUIT). A LOCAL connection that says only these is not logged.
 */
const HEALTH_CHECK_VERBS = new Set(['HELO', 'EHLO', 'NOOP', 'RSET', 'QUIT']);

function refusalError(r: Refusal): ReplyError {
  return smtpError(r.code, r.enhanced, r.text);
}

/** The transaction state smtp-server set from MAIL FROM's parameters, back to its defaults. */
function forgetMailParameters(session: SMTPServerSession): void {
  const env = session.envelope as SMTPServerSession['envelope'] & { bodyType?: string; smtpUtf8?: boolean; requireTLS?: boolean; dsn?: { ret: string | null; envid: string | null } };
  env.bodyType = '7bit';
  env.smtpUtf8 = false;
  env.requireTLS = false;
  if (env.dsn) env.dsn = { ret: null, envid: null };
}

/** RFC 5321 4.1.1.11, in Postfix's words. */
function unsupportedError(param: string): ReplyError {
  return smtpError(555, '5.5.4', `Unsupported option: ${param}`);
}

/** Whether an address may go through without SMTPUTF8, or is broken UTF-8. */
function utf8Problem(address: string, smtputf8: boolean): ReplyError | null {
  if (address.includes('\ufffd')) return smtpError(501, '5.5.2', 'Invalid UTF-8 in address');
  if (!smtputf8 && /[^\x00-\x7f]/.test(address)) return smtpError(553, '5.6.7', 'Non-ASCII address needs SMTPUTF8');
  return null;
}

/**
 * A path the rules accepted: `stored` is kept as the client sent it ('' for
 * <>, source route dropped); `key` is how two recipients are the same
 * mailbox (local part exact, domain normalised).
 */
function acceptedPath(p: PathResult): { stored: string; key: string } {
  if (!p.ok || p.kind === 'null') return { stored: '', key: '' };
  if (p.kind === 'postmaster') return { stored: p.local, key: 'postmaster' };
  return { stored: p.mailbox.given, key: `${p.mailbox.local}@${domainKey(p.mailbox.domain)}` };
}

/** For log lines: the path without its brackets, as a person would write it. */
function unbracketed(raw: string): string {
  return raw.length >= 2 && raw.startsWith('<') && raw.endsWith('>') ? raw.slice(1, -1) : raw;
}

export function frontEndOptions(listener: ListenerDef, shared: FrontEndShared, base: SMTPServerOptions): PatchedOptions {
  const states = new Map<string, ConnState>();
  const { logger } = shared;
  const state = (session: SMTPServerSession): ConnState | undefined => states.get(session.id);
  const facts = (st: ConnState) => ({ client: st.client, listener, user: st.user });

  /** Counts a refused command; past max_errors the connection is closed with 421. */
  const refused = (st: ConnState, err: ReplyError): ReplyError => {
    st.errors++;
    if (st.errors >= st.snap.settings.limits.max_errors) return smtpError(421, '4.7.0', 'Too many errors, closing connection');
    return err;
  };

  return {
    ...base,
    onConnect(session, cb) {
      let snap: Snapshot;
      try {
        snap = shared.snapshot();
      } catch (err) {
        logger.log('connect.error', { cid: session.id, listener: listener.name, error: String(err) });
        return cb(smtpError(421, '4.3.0', 'Service temporarily unavailable'));
      }
      const ip = parseIp(session.remoteAddress);
      if (!ip.ok) return cb(smtpError(421, '4.3.0', 'Cannot read client address'));
      const client: Client = { ip: ip.value, text: formatIp(ip.value) };
      // The connection limits were applied at the TCP accept (src/smtp/connection-gate.ts).
      const trusted = snap.allowed.match(client.ip) !== null;
      // AUTH is neither offered nor accepted before TLS (it comes back in onSecure).
      if (!session.secure) session.disabledCommands = ['AUTH'];
      const origin: ConnectionFacts = { ip: client.ip, text: client.text, upstream: snap.upstream.match(client.ip) !== null, relayHost: trusted };
      const st: ConnState = { snap, client, user: null, errors: 0, tx: null, origin, dnsbl: null, connectLog: {}, checkLog: {}, heldConnect: null };
      states.set(session.id, st);
      const d = decideConnect(snap, client);
      // A trusted proxy speaking for itself (PROXY LOCAL: its health checks) is served with its
      // own address; the origin checks (blocklists) are not asked about our own load balancer.
      const local = isProxyLocal(session);
      if (d.action !== 'accept' || local || !shared.checks || snap.settings.antispam.dnsbl.length === 0) {
        const line = { cid: session.id, client: client.text, listener: listener.name, revision: snap.revision, action: d.action, rule: d.rule, trail: d.trail, ...(local ? { proxy: 'local' } : {}) };
        if (local && d.action === 'accept') st.heldConnect = line;
        else logger.log('connect', line);
        return cb(d.action === 'accept' ? null : decisionError(d));
      }
      shared.checks
        .atConnect(snap, origin, listener.mode)
        .then(({ step, deferred }) => {
          st.dnsbl = deferred;
          st.connectLog = step.log;
          const r = step.refusal;
          logger.log('connect', {
            cid: session.id,
            client: client.text,
            listener: listener.name,
            revision: snap.revision,
            action: r ? 'reject' : 'accept',
            rule: r ? r.rule : d.rule,
            trail: r ? [...d.trail, r.reason] : d.trail,
            checks: step.log,
          });
          cb(r ? refusalError(r) : null);
        })
        .catch((err: unknown) => {
          logger.log('connect.error', { cid: session.id, listener: listener.name, error: String(err) });
          cb(smtpError(421, '4.3.0', 'Service temporarily unavailable'));
        });
    },

    onSecure(_socket, session, cb) {
      session.disabledCommands = [];
      cb();
    },

    onAuth(auth: SMTPServerAuthentication, session, cb) {
      const st = state(session);
      if (!st) return cb(smtpError(421, '4.3.0', 'Session lost'));
      const lim = st.snap.settings.limits;
      const throttle = { maxFailures: lim.max_auth_failures, delayMs: durationMs(lim.auth_failure_delay), windowMs: durationMs(lim.auth_failure_window) };
      if (shared.throttle.blocked(st.client.text, throttle)) {
        logger.log('auth.blocked', { cid: session.id, client: st.client.text });
        return cb(smtpError(421, '4.7.0', 'Too many failed logins, closing connection'));
      }
      const name = auth.username ?? '';
      const user = st.snap.users.get(name);
      verifyPasswordAsync(auth.password ?? '', user?.password_hash)
        .then((ok) => {
          const d = ok ? decideAuth(st.snap, name) : null;
          if (d?.action === 'accept') {
            st.user = name;
            logger.log('auth', { cid: session.id, client: st.client.text, user: name, action: 'accept', rule: d.rule });
            return cb(null, { user: name });
          }
          const f = shared.throttle.fail(st.client.text, throttle);
          logger.log('auth', { cid: session.id, client: st.client.text, user: name, action: 'reject', reason: ok ? d?.trail.at(-1) : 'wrong password or unknown user', failures_close: f.close });
          setTimeout(() => cb(f.close ? smtpError(421, '4.7.0', 'Too many failed logins, closing connection') : smtpError(535, '5.7.8', 'Authentication credentials invalid')), f.delayMs).unref();
        })
        .catch(() => cb(smtpError(454, '4.7.0', 'Temporary authentication failure')));
    },

    // Before smtp-server dispatches each command (patch 7): what the session may not use yet.
    commandGate(command: string, session: SMTPServerSession, secure: boolean) {
      const st = state(session);
      if (st?.heldConnect && !HEALTH_CHECK_VERBS.has(command)) {
        // More than a health check: this LOCAL session is logged like any other from here on.
        logger.log('connect', st.heldConnect);
        st.heldConnect = null;
      }
      const g = gateCommand(listener.mode, command, { secure, authenticated: st?.user != null });
      if (!g) return null;
      logger.log('command.refused', { cid: session.id, client: st?.client.text, listener: listener.name, command, code: g.code, reason: g.text });
      const err = smtpError(g.code, g.enhanced, g.text);
      return st ? refused(st, err) : err;
    },

    onMailFrom(address: SMTPServerAddress, session, cb) {
      const st = state(session);
      if (!st) return cb(smtpError(421, '4.3.0', 'Session lost'));
      st.tx = null;
      const raw = (address as unknown as WirePath).address;
      const refuse = (err: ReplyError, rule: string, why: readonly string[]) => {
        // The library applied the parameters before asking us: a refused MAIL must not leave them for the next one.
        forgetMailParameters(session);
        logger.log('mail', { cid: session.id, client: st.client.text, sender: unbracketed(raw), action: 'reject', code: err.responseCode, rule, trail: why });
        return cb(refused(st, err));
      };
      const unsupported = (address as unknown as WirePath).unsupported;
      if (unsupported !== undefined) return refuse(unsupportedError(unsupported), 'syntax', [`unsupported parameter ${unsupported}`]);
      const param = (address as unknown as WirePath).paramError;
      if (param) return refuse(smtpError(501, '5.5.4', 'Invalid parameter'), 'syntax', [param]);
      const bad = utf8Problem(raw, session.envelope.smtpUtf8 === true);
      if (bad) return refuse(bad, 'syntax', [bad.message]);
      const parsed = parsePath(raw, { allowNull: true, requireBrackets: true });
      const d = decideSender(st.snap, facts(st), raw, { wire: true, parsed });
      if (d.action !== 'accept') return refuse(decisionError(d), d.rule, d.trail);
      st.checkLog = { ...st.connectLog };
      if (shared.checks && relayRight(st.snap, facts(st)).right === null) {
        const step = shared.checks.atMail(st.snap, st.origin, session.hostNameAppearsAs || '', acceptedPath(parsed).stored, st.dnsbl, session.localAddress);
        Object.assign(st.checkLog, step.log);
        if (step.refusal) return refuse(refusalError(step.refusal), step.refusal.rule, [step.refusal.reason]);
      }
      try {
        const room = shared.store.admits(st.snap.settings.limits.min_free_space);
        if (!room.ok) {
          forgetMailParameters(session);
          if (room.cause === 'unavailable') {
            // Nothing is full: the queue's store cannot be reached for now (a cluster's database away).
            logger.log('mail.store_unavailable', { cid: session.id, reason: room.reason });
            return cb(smtpError(451, '4.3.0', 'Temporary local problem: the queue is unavailable, try again later'));
          }
          logger.log('mail.no_space', { cid: session.id, min_free_space: st.snap.settings.limits.min_free_space, reason: room.reason });
          return cb(smtpError(452, '4.3.1', 'Insufficient system storage'));
        }
      } catch {
        forgetMailParameters(session);
        return cb(smtpError(451, '4.3.0', 'Temporary local problem'));
      }
      st.tx = { sender: acceptedPath(parsed).stored, recipients: [], seen: new Set() };
      cb();
    },

    onRcptTo(address: SMTPServerAddress, session, cb) {
      const st = state(session);
      if (!st?.tx) return cb(smtpError(503, '5.5.1', 'Bad sequence of commands'));
      const tx = st.tx;
      const raw = (address as unknown as WirePath).address;
      const log = (fields: Record<string, unknown>) => logger.log('rcpt', { cid: session.id, client: st.client.text, user: st.user, recipient: unbracketed(raw), ...fields });
      const unsupported = (address as unknown as WirePath).unsupported;
      if (unsupported !== undefined) {
        log({ action: 'reject', code: 555, rule: 'syntax', trail: [`unsupported parameter ${unsupported}`] });
        return cb(refused(st, unsupportedError(unsupported)));
      }
      const param = (address as unknown as WirePath).paramError;
      if (param) {
        log({ action: 'reject', code: 501, rule: 'syntax', trail: [param] });
        return cb(refused(st, smtpError(501, '5.5.4', 'Invalid parameter')));
      }
      const bad = utf8Problem(raw, session.envelope.smtpUtf8 === true);
      if (bad) {
        log({ action: 'reject', code: bad.responseCode, rule: 'syntax', trail: [bad.message] });
        return cb(refused(st, bad));
      }
      const parsed = parsePath(raw, { allowNull: false, requireBrackets: true });
      const d = decideRecipient(st.snap, facts(st), raw, { wire: true, parsed });
      if (d.action !== 'accept') {
        log({ action: d.action, code: d.code, kind: d.kind, rule: d.rule, trail: d.trail });
        return cb(refused(st, decisionError(d)));
      }
      const { stored, key } = acceptedPath(parsed);
      // One mailbox, one delivery: a repeat is acknowledged and costs no recipient slot.
      if (tx.seen.has(key)) {
        log({ action: 'accept', duplicate: true, code: d.code, kind: d.kind, rule: d.rule });
        return cb();
      }
      if (tx.recipients.length >= st.snap.settings.limits.max_recipients) {
        log({ action: 'reject', code: 452, rule: 'limits.max_recipients' });
        return cb(smtpError(452, '4.5.3', 'Too many recipients'));
      }
      const accept = (): void => {
        log({ action: d.action, code: d.code, kind: d.kind, rule: d.rule, trail: d.trail });
        tx.seen.add(key);
        const dsn = (address as unknown as { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
        const entry: Transaction['recipients'][number] = { address: stored, decision: d };
        if (dsn?.notify?.length) entry.notify = dsn.notify.map((n) => n.toUpperCase() as NotifyOn);
        if (dsn?.orcpt) entry.orcpt = dsn.orcpt;
        tx.recipients.push(entry);
        cb();
      };
      if (shared.checks && st.snap.settings.antispam.greylisting.enabled && relayRight(st.snap, facts(st)).right === null) {
        // The greylist store answers asynchronously (the server reads no further command until cb).
        shared.checks.atRcpt(st.snap, st.origin, tx.sender, stored).then(
          (step) => {
            if (step.refusal) {
              log({ action: 'reject', code: step.refusal.code, rule: step.refusal.rule, trail: [step.refusal.reason], checks: step.log });
              return cb(refusalError(step.refusal));
            }
            Object.assign(st.checkLog, step.log);
            accept();
          },
          (err: Error) => {
            // Fail closed: the triplet could not be looked up.
            log({ action: 'defer', code: 451, rule: 'antispam.greylisting', trail: [`greylist store: ${err.message}`] });
            cb(smtpError(451, '4.3.0', 'Temporary failure, please try again later'));
          },
        );
        return;
      }
      accept();
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      const st = state(session);
      const tx = st?.tx;
      if (!st || !tx || tx.recipients.length === 0) {
        stream.resume();
        stream.on('end', () => cb(smtpError(503, '5.5.1', 'No valid recipients')));
        return;
      }
      const id = newQueueId();
      const incoming: IncomingMessage = {
        id,
        listener,
        snap: st.snap,
        client: st.client,
        user: st.user,
        relayRight: relayRight(st.snap, facts(st)).right,
        origin: st.origin,
        dnsbl: st.dnsbl,
        checkLog: st.checkLog,
        sender: tx.sender,
        recipients: tx.recipients,
        bareNewline: bareNewlineMode(st.snap, st.client, st.user),
        session,
      };
      // receiveMessage answers once and never rejects; the count that
      // shutdown waits on goes down exactly once, with the one reply.
      shared.inFlight.count++;
      void receiveMessage({ store: shared.store, logger, checks: shared.checks, claim: shared.claim }, incoming, stream as AsyncIterable<Buffer>).then((outcome) => {
        st.tx = null;
        shared.inFlight.count--;
        if (shared.inFlight.count === 0) shared.inFlight.idle();
        try {
          cb(outcome.error, outcome.message);
        } catch (err) {
          logger.log('data.error', { id, cid: session.id, error: `reply: ${err instanceof Error ? err.message : String(err)}` });
        }
        // The message is committed and answered: a failure to start its
        // delivery now is logged, and the queue's next scan picks it up.
        if (outcome.queued) {
          try {
            shared.onQueued?.(outcome.queued);
          } catch (err) {
            logger.log('queued.notify_error', { id, error: err instanceof Error ? err.message : String(err) });
          }
        }
      });
    },

    onClose(session) {
      const st = states.get(session.id);
      if (!st) return;
      states.delete(session.id);
      // A health check's connection was never logged: neither is its end.
      if (st.heldConnect) return;
      logger.log('disconnect', { cid: session.id, client: st.client.text });
    },
  };
}
