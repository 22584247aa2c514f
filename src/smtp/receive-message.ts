// One DATA transaction, from the first byte of the stream to the reply: the
// data passes the DataGuard into the spool and the scanners, the origin
// checks and the scan decide, and a 250 comes only once the spool has
// committed the message. It returns the reply exactly once and never
// rejects: whatever goes wrong before the commit becomes a 4xx (the sender
// keeps the mail); nothing after the commit can take the 250 back. The SMTP
// handler (src/smtp/front-end.ts) only maps the outcome to its callback.

import type { SMTPServerSession } from 'smtp-server';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import type { Decision } from '../core/decision.ts';
import { streamedBytes } from '../core/memory.ts';
import type { Logger } from '../log/logger.ts';
import type { Client } from '../policy/rules.ts';
import type { Envelope, EnvelopeRecipient, NotifyOn } from '../queue/envelope.ts';
import type { ClaimRequest, Committed, MessageWriter, QueueStore } from '../queue/queue-store.ts';
import { MessageScan } from '../scan/message-scan.ts';
import type { ScanDecision } from '../scan/scan-policy.ts';
import type { AntispamChecks, ConnectionFacts, Refusal } from '../antispam/checks.ts';
import type { DnsblOutcome } from '../antispam/dnsbl.ts';
import { HeaderCollector } from '../antispam/header-collector.ts';
import { DataGuard, type BareLfMode, type DataProblem } from './data-guard.ts';
import { receivedHeader } from './received.ts';
import { smtpError, type ReplyError } from './smtp-reply.ts';

export interface IncomingRecipient {
  address: string;
  decision: Decision;
  notify?: NotifyOn[];
  orcpt?: string;
}

/** Everything one transaction knows when DATA starts. */
export interface IncomingMessage {
  id: string;
  listener: ListenerDef;
  snap: Snapshot;
  client: Client;
  user: string | null;
  /** The relay right the rules gave this client, or null (mail for our domains only). */
  relayRight: string | null;
  origin: ConnectionFacts;
  dnsbl: DnsblOutcome | null;
  /** Check results of the connection and the transaction so far. */
  checkLog: Record<string, unknown>;
  sender: string;
  recipients: IncomingRecipient[];
  /** What a bare LF gets from this client (src/smtp/bare-newline.ts). */
  bareNewline: BareLfMode;
  session: Pick<SMTPServerSession, 'id' | 'hostNameAppearsAs' | 'secure' | 'tlsOptions' | 'envelope'>;
}

export interface ReceiveDeps {
  store: QueueStore;
  logger: Logger;
  checks?: AntispamChecks | undefined;
  /** Asked at commit: claim the message for this node's delivery at once (undefined: leave it to the queue). */
  claim?: (() => ClaimRequest | undefined) | undefined;
}

/** The reply to the end of DATA; `queued` is the commit (envelope, and the claim when one was taken) when the queue must be told. */
export interface ReceiveOutcome {
  error: ReplyError | null;
  message?: string;
  queued?: Committed;
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

/** Reads the DATA stream to its end and answers; never rejects. */
export async function receiveMessage(deps: ReceiveDeps, m: IncomingMessage, stream: AsyncIterable<Buffer>): Promise<ReceiveOutcome> {
  const { logger } = deps;
  const { id, session, snap } = m;
  let committed: Committed | null = null;
  let quarantined = false;
  let scan: MessageScan | null = null;
  let writer: MessageWriter | null = null;
  try {
    const lim = snap.settings.limits;
    const guard = new DataGuard(lim.max_message_size, lim.max_received, m.bareNewline);
    // A client that drops mid-DATA destroys the stream: the loop below
    // throws and the writer is aborted, leaving nothing behind.
    writer = deps.store.begin(id);
    const tls = session.secure && session.tlsOptions ? { protocol: session.tlsOptions.version ?? 'TLS', cipher: session.tlsOptions.name } : null;
    const header = receivedHeader({
      helo: session.hostNameAppearsAs || 'unknown',
      clientAddress: m.client.text,
      hostname: snap.settings.hostname,
      listener: m.listener.name,
      id,
      tls,
      authenticated: m.user !== null,
      smtputf8: session.envelope.smtpUtf8 === true,
      recipient: m.recipients.length === 1 ? (m.recipients[0]?.address ?? null) : null,
      date: new Date(),
    });
    const relayed = m.relayRight !== null;
    scan = new MessageScan(snap.settings, {
      queueId: id,
      clientAddress: m.client.text,
      helo: session.hostNameAppearsAs || '',
      sender: m.sender,
      recipients: m.recipients.map((r) => r.address),
      user: m.user,
      relayed,
    });
    // The origin checks apply to mail without relay right, when any is configured.
    const as = snap.settings.antispam;
    const checks = deps.checks && !relayed && (as.spf.enabled || as.dnsbl.length > 0 || (as.greylisting.enabled && m.origin.upstream)) ? deps.checks : null;
    const headers = checks ? new HeaderCollector() : null;

    const head = Buffer.from(header, 'utf8');
    await Promise.all([writer.write(head), scan.feed(head, true)]);
    let writing = true;
    for await (const chunk of stream) {
      streamedBytes(chunk.length);
      // What the guard passes on may differ from what came (bare LFs made CRLF).
      const clean = writing ? guard.feed(chunk) : null;
      if (clean) {
        headers?.feed(clean);
        await Promise.all([writer.write(clean), scan.feed(clean)]);
      } else writing = false;
    }
    const problem = guard.finish();
    if (problem) {
      scan.abort();
      await writer.abort();
      const [code, enhanced, text] = PROBLEM_REPLY[problem];
      logger.log('data.refused', { id, cid: session.id, client: m.client.text, problem, bytes: guard.bytes, code, enhanced });
      return { error: smtpError(code, enhanced, text) };
    }
    const originStep = checks
      ? await checks.atDataEnd(snap, m.origin, { helo: session.hostNameAppearsAs || '', sender: m.sender, recipients: m.recipients.map((r) => r.address), received: headers?.values('received') ?? [], connectDnsbl: m.dnsbl })
      : null;
    const checkLog = { ...m.checkLog, ...(originStep?.log ?? {}) };
    if (originStep?.origin.fallback) logger.log('antispam.origin_fallback', { id, cid: session.id, client: m.client.text, origin: originStep.origin.origin, reason: originStep.origin.fallback });
    if (originStep?.refusal) {
      const r = originStep.refusal;
      scan.abort();
      await writer.abort();
      logger.log('antispam.refused', { id, cid: session.id, client: m.client.text, sender: m.sender, recipients: m.recipients.map((x) => x.address), action: 'reject', code: r.code, rule: r.rule, reason: r.reason, checks: checkLog });
      return { error: refusalError(r) };
    }
    // Without an active engine this is a pure decision (no I/O) that still says why nothing scanned.
    const w = writer;
    const verdict: ScanDecision = await scan.finish(() => w.contents(), originStep ?? undefined, originStep?.origin.origin);
    const scanLog = { rule: verdict.rule, ...verdict.log, ...(Object.keys(checkLog).length ? { checks: checkLog } : {}) };
    if (verdict.action === 'reject' || verdict.action === 'tempfail' || verdict.action === 'blackhole') {
      await writer.abort();
      logger.log(verdict.action === 'blackhole' ? 'scan.blackholed' : 'scan.refused', {
        id,
        cid: session.id,
        client: m.client.text,
        sender: m.sender,
        recipients: m.recipients.map((r) => r.address),
        relayed,
        action: verdict.action,
        code: verdict.reply?.code ?? 250,
        rule: verdict.rule,
        reason: verdict.reason,
        scan: scanLog,
      });
      if (verdict.reply) return { error: smtpError(verdict.reply.code, verdict.reply.enhanced, verdict.reply.text) };
      return { error: null, message: `2.0.0 Ok: queued as ${id}` };
    }
    const recipients: EnvelopeRecipient[] = m.recipients.map((r) => {
      const e: EnvelopeRecipient = { address: r.address, kind: r.decision.kind ?? 'inbound', rule: r.decision.rule, status: 'queued' };
      if (r.notify) e.notify = r.notify;
      if (r.orcpt) e.orcpt = r.orcpt;
      return e;
    });
    const dsn = session.envelope.dsn as { ret?: string | null; envid?: string | null } | undefined;
    const envelope: Omit<Envelope, 'size' | 'id'> = {
      version: 1,
      received_at: new Date().toISOString(),
      sender: m.sender,
      recipients,
      client: { address: m.client.text, helo: session.hostNameAppearsAs || '', user: m.user, tls: session.secure, listener: m.listener.name },
      relayed,
      revision: snap.revision,
      body: session.envelope.bodyType === '8bitmime' ? '8bitmime' : '7bit',
      smtputf8: session.envelope.smtpUtf8 === true,
    };
    if (dsn?.ret || dsn?.envid) envelope.dsn = { ret: dsn.ret === 'FULL' || dsn.ret === 'HDRS' ? dsn.ret : null, envid: dsn.envid ?? null };
    quarantined = verdict.action === 'quarantine';
    if (quarantined) envelope.quarantine = { at: envelope.received_at, rule: verdict.rule, reason: verdict.reason };
    committed = await writer.commit(envelope, { area: quarantined ? 'quarantine' : 'queue', edit: verdict, claim: quarantined ? undefined : deps.claim?.() });
    logger.log(quarantined ? 'quarantined' : 'queued', {
      id,
      cid: session.id,
      client: m.client.text,
      user: m.user,
      sender: m.sender,
      recipients: recipients.map((r) => ({ address: r.address, kind: r.kind, rule: r.rule })),
      relayed,
      size: committed.envelope.size,
      revision: snap.revision,
      scan: scanLog,
      ...(guard.normalized > 0 ? { bare_lf_normalized: guard.normalized } : {}),
      ...(quarantined ? { rule: verdict.rule, reason: verdict.reason } : {}),
    });
    const ok: ReceiveOutcome = { error: null, message: `2.0.0 Ok: queued as ${id}` };
    if (!quarantined) ok.queued = committed;
    return ok;
  } catch (err) {
    // Committed means safely stored: the 250 stands (a 4xx would make the sender send it twice).
    if (committed) {
      safeLog(logger, 'data.error', { id, cid: session.id, error: errorText(err), committed: true });
      const ok: ReceiveOutcome = { error: null, message: `2.0.0 Ok: queued as ${id}` };
      if (!quarantined) ok.queued = committed;
      return ok;
    }
    scan?.abort();
    await writer?.abort().catch(() => {});
    safeLog(logger, 'data.error', { id, cid: session.id, error: errorText(err) });
    return { error: smtpError(451, '4.3.0', 'Temporary local problem, please try again') };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A log line that cannot turn the reply into an exception. */
function safeLog(logger: Logger, event: string, fields: Record<string, unknown>): void {
  try {
    logger.log(event, fields);
  } catch {
    // the reply matters more than the line
  }
}
