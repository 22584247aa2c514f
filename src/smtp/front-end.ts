// The SMTP handlers of one listener: every wire command asks the relay rules
// (src/policy/rules.ts) with the snapshot the connection pinned at connect,
// and DATA streams through the DataGuard into the spool. A 250 after DATA
// comes only once the spool has committed the message (fsync, rename,
// directory fsync). Anything unexpected answers 4xx: the sender keeps the mail.

import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { Decision } from '../core/decision.ts';
import { durationMs } from '../core/duration.ts';
import { streamedBytes } from '../core/memory.ts';
import type { Logger } from '../log/logger.ts';
import { formatIp, parseIp } from '../objects/ip.ts';
import { verifyPasswordAsync } from '../objects/password.ts';
import { domainKey, parsePath, type PathResult } from '../address/path.ts';
import { decideAuth, decideConnect, decideRecipient, decideSender, relayRight, type Client } from '../policy/rules.ts';
import type { Envelope, EnvelopeRecipient, NotifyOn } from '../queue/envelope.ts';
import { newQueueId } from '../queue/queue-id.ts';
import { MessageScan } from '../scan/message-scan.ts';
import type { AntispamChecks, ConnectionFacts, Refusal } from '../antispam/checks.ts';
import type { DnsblOutcome } from '../antispam/dnsbl.ts';
import { HeaderCollector } from '../antispam/header-collector.ts';
import type { ScanDecision } from '../scan/scan-policy.ts';
import type { Spool } from '../queue/spool.ts';
import { AuthThrottle } from './auth-throttle.ts';
import { ConnectionLimits } from './connection-limits.ts';
import { DataGuard, type DataProblem } from './data-guard.ts';
import { receivedHeader } from './received.ts';
import type { WirePath } from './smtp-server-patches.ts';
import { decisionError, smtpError, type ReplyError } from './smtp-reply.ts';

/** What the whole daemon shares between listeners. */
export interface FrontEndShared {
  snapshot(): Snapshot;
  spool: Spool;
  logger: Logger;
  throttle: AuthThrottle;
  connections: ConnectionLimits;
  /** Told of every committed message (the queue manager starts its delivery). */
  onQueued?: (envelope: Envelope) => void;
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
}

const PROBLEM_REPLY: Record<DataProblem, [number, string, string]> = {
  too_big: [552, '5.3.4', 'Message too big'],
  bare_cr: [550, '5.5.2', 'Bare CR in message: lines must end with CRLF'],
  bare_lf: [550, '5.5.2', 'Bare LF in message: lines must end with CRLF'],
  nul: [550, '5.5.2', 'NUL in message'],
  loop: [554, '5.4.6', 'Too many Received headers: mail loop'],
};

function refusalError(r: Refusal): ReplyError {
  return smtpError(r.code, r.enhanced, r.text);
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

export function frontEndOptions(listener: ListenerDef, shared: FrontEndShared, base: SMTPServerOptions): SMTPServerOptions {
  const states = new Map<string, ConnState>();
  const { logger } = shared;
  const state = (session: SMTPServerSession): ConnState | undefined => states.get(session.id);
  const facts = (st: ConnState) => ({ client: st.client, listener, user: st.user });

  /** Counts a refused command; past max_errors the connection is closed with 421. */
  const refused = (st: ConnState, err: Error): Error => {
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
      const st: ConnState = { snap, client, user: null, errors: 0, tx: null, origin, dnsbl: null, connectLog: {}, checkLog: {} };
      states.set(session.id, st);
      const d = decideConnect(snap, client);
      if (d.action !== 'accept' || !shared.checks || snap.settings.antispam.dnsbl.length === 0) {
        logger.log('connect', { cid: session.id, client: client.text, listener: listener.name, revision: snap.revision, action: d.action, rule: d.rule, trail: d.trail });
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

    onMailFrom(address: SMTPServerAddress, session, cb) {
      const st = state(session);
      if (!st) return cb(smtpError(421, '4.3.0', 'Session lost'));
      st.tx = null;
      const raw = (address as unknown as WirePath).address;
      const refuse = (err: ReplyError, rule: string, why: readonly string[]) => {
        logger.log('mail', { cid: session.id, client: st.client.text, sender: unbracketed(raw), action: 'reject', code: err.responseCode, rule, trail: why });
        return cb(refused(st, err));
      };
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
        if (shared.spool.freeSpace() < st.snap.settings.limits.min_free_space) {
          logger.log('mail.no_space', { cid: session.id, min_free_space: st.snap.settings.limits.min_free_space });
          return cb(smtpError(452, '4.3.1', 'Insufficient system storage'));
        }
      } catch {
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
      if (shared.checks && st.snap.settings.antispam.greylisting.enabled && relayRight(st.snap, facts(st)).right === null) {
        const step = shared.checks.atRcpt(st.snap, st.origin, tx.sender, stored);
        if (step.refusal) {
          log({ action: 'reject', code: step.refusal.code, rule: step.refusal.rule, trail: [step.refusal.reason], checks: step.log });
          return cb(refusalError(step.refusal));
        }
        Object.assign(st.checkLog, step.log);
      }
      log({ action: d.action, code: d.code, kind: d.kind, rule: d.rule, trail: d.trail });
      tx.seen.add(key);
      const dsn = (address as unknown as { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
      const entry: Transaction['recipients'][number] = { address: stored, decision: d };
      if (dsn?.notify?.length) entry.notify = dsn.notify.map((n) => n.toUpperCase() as NotifyOn);
      if (dsn?.orcpt) entry.orcpt = dsn.orcpt;
      tx.recipients.push(entry);
      cb();
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
      const lim = st.snap.settings.limits;
      const guard = new DataGuard(lim.max_message_size, lim.max_received);
      // A client that drops mid-DATA destroys the stream: the loop below
      // throws and the writer is aborted, leaving nothing behind.
      const writer = shared.spool.begin(id);
      const tls = session.secure && session.tlsOptions ? { protocol: session.tlsOptions.version ?? 'TLS', cipher: session.tlsOptions.name } : null;
      const header = receivedHeader({
        helo: session.hostNameAppearsAs || 'unknown',
        clientAddress: st.client.text,
        hostname: st.snap.settings.hostname,
        listener: listener.name,
        id,
        tls,
        authenticated: st.user !== null,
        recipient: tx.recipients.length === 1 ? (tx.recipients[0]?.address ?? null) : null,
        date: new Date(),
      });
      const right = relayRight(st.snap, facts(st)).right;
      const scan = new MessageScan(st.snap.settings, {
        queueId: id,
        clientAddress: st.client.text,
        helo: session.hostNameAppearsAs || '',
        sender: tx.sender,
        recipients: tx.recipients.map((r) => r.address),
        user: st.user,
        relayed: right !== null,
      });
      shared.inFlight.count++;
      const finish = (err: Error | null, message?: string) => {
        st.tx = null;
        shared.inFlight.count--;
        if (shared.inFlight.count === 0) shared.inFlight.idle();
        cb(err, message);
      };
      // The origin checks apply to mail without relay right, when any is configured.
      const as = st.snap.settings.antispam;
      const checks = shared.checks && right === null && (as.spf.enabled || as.dnsbl.length > 0 || (as.greylisting.enabled && st.origin.upstream)) ? shared.checks : null;
      const headers = checks ? new HeaderCollector() : null;
      (async () => {
        const head = Buffer.from(header, 'utf8');
        await Promise.all([writer.write(head), scan.feed(head, true)]);
        let writing = true;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          streamedBytes(chunk.length);
          if (writing && guard.feed(chunk)) {
            headers?.feed(chunk);
            await Promise.all([writer.write(chunk), scan.feed(chunk)]);
          } else writing = false;
        }
        const problem = guard.finish();
        if (problem) {
          scan.abort();
          await writer.abort();
          const [code, enhanced, text] = PROBLEM_REPLY[problem];
          logger.log('data.refused', { id, cid: session.id, client: st.client.text, problem, bytes: guard.bytes, code, enhanced });
          return finish(smtpError(code, enhanced, text));
        }
        const originStep = checks
          ? await checks.atDataEnd(st.snap, st.origin, { helo: session.hostNameAppearsAs || '', sender: tx.sender, recipients: tx.recipients.map((r) => r.address), received: headers?.values('received') ?? [], connectDnsbl: st.dnsbl })
          : null;
        const checkLog = { ...st.checkLog, ...(originStep?.log ?? {}) };
        if (originStep?.origin.fallback) logger.log('antispam.origin_fallback', { id, cid: session.id, client: st.client.text, origin: originStep.origin.origin, reason: originStep.origin.fallback });
        if (originStep?.refusal) {
          const r = originStep.refusal;
          scan.abort();
          await writer.abort();
          logger.log('antispam.refused', { id, cid: session.id, client: st.client.text, sender: tx.sender, recipients: tx.recipients.map((x) => x.address), action: 'reject', code: r.code, rule: r.rule, reason: r.reason, checks: checkLog });
          return finish(refusalError(r));
        }
        // Without an active engine this is a pure decision (no I/O) that still says why nothing scanned.
        const verdict: ScanDecision = await scan.finish(() => writer.contents(), originStep ?? undefined, originStep?.origin.origin);
        const scanLog = { rule: verdict.rule, ...verdict.log, ...(Object.keys(checkLog).length ? { checks: checkLog } : {}) };
        if (verdict.action === 'reject' || verdict.action === 'tempfail' || verdict.action === 'blackhole') {
          await writer.abort();
          logger.log(verdict.action === 'blackhole' ? 'scan.blackholed' : 'scan.refused', {
            id,
            cid: session.id,
            client: st.client.text,
            sender: tx.sender,
            recipients: tx.recipients.map((r) => r.address),
            relayed: right !== null,
            action: verdict.action,
            code: verdict.reply?.code ?? 250,
            rule: verdict.rule,
            reason: verdict.reason,
            scan: scanLog,
          });
          if (verdict.reply) return finish(smtpError(verdict.reply.code, verdict.reply.enhanced, verdict.reply.text));
          return finish(null, `2.0.0 Ok: queued as ${id}`);
        }
        const recipients: EnvelopeRecipient[] = tx.recipients.map((r) => {
          const e: EnvelopeRecipient = { address: r.address, kind: r.decision.kind ?? 'inbound', rule: r.decision.rule, status: 'queued' };
          if (r.notify) e.notify = r.notify;
          if (r.orcpt) e.orcpt = r.orcpt;
          return e;
        });
        const dsn = session.envelope.dsn as { ret?: string | null; envid?: string | null } | undefined;
        const envelope: Omit<Envelope, 'size' | 'id'> = {
          version: 1,
          received_at: new Date().toISOString(),
          sender: tx.sender,
          recipients,
          client: { address: st.client.text, helo: session.hostNameAppearsAs || '', user: st.user, tls: session.secure, listener: listener.name },
          relayed: right !== null,
          revision: st.snap.revision,
          body: session.envelope.bodyType === '8bitmime' ? '8bitmime' : '7bit',
          smtputf8: session.envelope.smtpUtf8 === true,
        };
        if (dsn?.ret || dsn?.envid) envelope.dsn = { ret: dsn.ret === 'FULL' || dsn.ret === 'HDRS' ? dsn.ret : null, envid: dsn.envid ?? null };
        const quarantined = verdict.action === 'quarantine';
        if (quarantined) envelope.quarantine = { at: envelope.received_at, rule: verdict.rule, reason: verdict.reason };
        const saved = await writer.commit(envelope, { area: quarantined ? 'quarantine' : 'queue', edit: verdict });
        logger.log(quarantined ? 'quarantined' : 'queued', {
          id,
          cid: session.id,
          client: st.client.text,
          user: st.user,
          sender: tx.sender,
          recipients: recipients.map((r) => ({ address: r.address, kind: r.kind, rule: r.rule })),
          relayed: envelope.relayed,
          size: saved.size,
          revision: st.snap.revision,
          scan: scanLog,
          ...(quarantined ? { rule: verdict.rule, reason: verdict.reason } : {}),
        });
        finish(null, `2.0.0 Ok: queued as ${id}`);
        if (!quarantined) shared.onQueued?.(saved);
      })().catch(async (err: unknown) => {
        scan.abort();
        await writer.abort();
        logger.log('data.error', { id, cid: session.id, error: err instanceof Error ? err.message : String(err) });
        finish(smtpError(451, '4.3.0', 'Temporary local problem, please try again'));
      });
    },

    onClose(session) {
      const st = states.get(session.id);
      if (!st) return;
      states.delete(session.id);
      logger.log('disconnect', { cid: session.id, client: st.client.text });
    },
  };
}
