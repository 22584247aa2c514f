// The message path of one DATA transaction, from the first byte of the
// stream to the reply, in steps: spool() passes the data through the
// DataGuard into the store and the checks that watch it as it arrives;
// decide() asks the checks of the end of DATA (src/checks); store() commits
// the envelope (fsync, rename, directory fsync) and hands it to the queue. A
// 250 comes only once the commit is done. receiveMessage() returns the reply
// exactly once and never rejects: whatever goes wrong before the commit
// becomes a 4xx (the sender keeps the mail); nothing after the commit can
// take the 250 back.

import type { SMTPServerSession } from 'smtp-server';
import type { ListenerDef, TrackingSettings } from '../config/document.ts';
import { decodeWords } from '../tracking/encoded-words.ts';
import type { Decision } from '../core/decision.ts';
import { MailError } from '../core/mail-error.ts';
import { streamedBytes } from '../core/memory.ts';
import type { Logger } from '../log/logger.ts';
import type { Envelope, EnvelopeRecipient, NotifyOn } from '../queue/envelope.ts';
import type { ClaimRequest, Committed, MessageWriter, QueueStore } from '../queue/queue-store.ts';
import type { BodyWatcher, Fields } from '../checks/check.ts';
import { originLog, originOf } from '../checks/origin.ts';
import type { CheckRunner, SessionBase, StageResult } from '../checks/runner.ts';
import { HeaderCollector } from '../antispam/header-collector.ts';
import type { RateCommit, RateHold } from '../checks/rate-limits.ts';
import { DataGuard, type BareLfMode, type DataProblem } from './data-guard.ts';
import { receivedHeader } from './received.ts';
import { signable, wantsSigning } from '../dkim/choose.ts';
import { signMessage, withSignature, type SignResult } from '../dkim/signer.ts';
import { StripRefused } from '../content/strip.ts';

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
  /** The session as the checks see it (its snapshot, client, user, HELO name and the checks' memory). */
  base: SessionBase;
  /** The relay right the rules gave this client, or null (mail for our domains only). */
  relayRight: string | null;
  /** Check results of the connection and the transaction so far. */
  checkLog: Fields;
  sender: string;
  recipients: IncomingRecipient[];
  /** What a bare LF gets from this client (src/smtp/bare-newline.ts). */
  bareNewline: BareLfMode;
  session: Pick<SMTPServerSession, 'id' | 'hostNameAppearsAs' | 'secure' | 'tlsOptions' | 'envelope'>;
}

export interface ReceiveDeps {
  store: QueueStore;
  logger: Logger;
  runner: CheckRunner;
  /** Asked at commit: claim the message for this node's delivery at once (undefined: leave it to the queue). */
  claim?: (() => ClaimRequest | undefined) | undefined;
}

/** The reply to the end of DATA; `queued` is the commit (envelope, and the claim when one was taken) when the queue must be told. */
export interface ReceiveOutcome {
  error: MailError | null;
  message?: string;
  queued?: Committed;
}

const PROBLEM: Record<DataProblem, MailError> = {
  too_big: new MailError(552, '5.3.4', 'Message too big', { rule: 'limits.max_message_size' }),
  bare_cr: new MailError(550, '5.5.2', 'Bare CR in message: lines must end with CRLF', { rule: 'limits.bare_newline' }),
  bare_lf: new MailError(550, '5.5.2', 'Bare LF in message: lines must end with CRLF', { rule: 'limits.bare_newline' }),
  nul: new MailError(550, '5.5.2', 'NUL in message', { rule: 'syntax' }),
  loop: new MailError(554, '5.4.6', 'Too many Received headers: mail loop', { rule: 'limits.max_received' }),
};

/** What spool() leaves for the steps after it. */
interface Spooled {
  guard: DataGuard;
  headers: HeaderCollector | null;
  /** The Received headers are read for the message's origin (mail from an upstream host without a relay right). */
  origin: boolean;
}

/** Reads the DATA stream to its end and answers; never rejects. */
export async function receiveMessage(deps: ReceiveDeps, m: IncomingMessage, stream: AsyncIterable<Buffer>): Promise<ReceiveOutcome> {
  const { logger } = deps;
  const { id, session } = m;
  const path = { writer: null as MessageWriter | null, watchers: [] as BodyWatcher[], committed: null as Committed | null, quarantined: false };
  const stop = async () => {
    for (const w of path.watchers) w.abort();
    await path.writer?.abort();
  };
  try {
    path.writer = deps.store.begin(id);
    const upstream = m.base.snap.upstream.match(m.base.client.ip) !== null;
    path.watchers = deps.runner.watchers(m.base, { id, sender: m.sender, recipients: m.recipients.map((r) => r.address) });
    const spooled = await spool(m, path.writer, path.watchers, upstream, stream);
    // The client's "." has arrived: the `.`→250 time (reply_ms in the line of a 250) counts from here.
    const ended = performance.now();
    const problem = spooled.guard.finish();
    if (problem) {
      await stop();
      const error = PROBLEM[problem];
      logger.log('data.refused', { id, cid: session.id, client: m.base.client.text, problem, bytes: spooled.guard.bytes, code: error.code, enhanced: error.enhanced, rule: error.rule });
      return { error };
    }
    const writer = path.writer;
    const { result, checkLog } = await decide(deps, m, upstream, spooled, () => writer.contents());
    if (result.outcome === 'refuse' || result.outcome === 'discard') {
      await stop();
      logRefusal(logger, m, result, checkLog, ended);
      return result.error ? { error: result.error } : { error: null, message: `2.0.0 Ok: queued as ${id}` };
    }
    path.quarantined = result.outcome === 'quarantine';
    // Quarantined by a check before the content scan (DMARC): the engines fed while spooling are let go.
    if (path.quarantined && result.by !== 'scan') for (const w of path.watchers) w.abort();
    return await store(deps, m, writer, result, checkLog, spooled, (c, quarantined) => ((path.committed = c), (path.quarantined = quarantined)), ended);
  } catch (err) {
    // Committed means safely stored: the 250 stands (a 4xx would make the sender send it twice).
    if (path.committed) {
      safeLog(logger, 'data.error', { id, cid: session.id, error: errorText(err), committed: true });
      const ok: ReceiveOutcome = { error: null, message: `2.0.0 Ok: queued as ${id}` };
      if (!path.quarantined) ok.queued = path.committed;
      return ok;
    }
    for (const w of path.watchers) w.abort();
    await path.writer?.abort().catch(() => {});
    safeLog(logger, 'data.error', { id, cid: session.id, error: errorText(err) });
    return { error: new MailError(451, '4.3.0', 'Temporary local problem, please try again', { rule: 'internal', reason: errorText(err) }) };
  }
}

/** Our Received header, then the client's data through the guard into the store and the watchers. A client that drops mid-DATA ends the stream with an error. */
async function spool(m: IncomingMessage, writer: MessageWriter, watchers: BodyWatcher[], upstream: boolean, stream: AsyncIterable<Buffer>): Promise<Spooled> {
  const { session, base } = m;
  const lim = base.snap.settings.limits;
  const guard = new DataGuard(lim.max_message_size, lim.max_received, m.bareNewline);
  // The origin of mail from an upstream host is read from its Received headers; message tracking wants the Message-ID (and Subject).
  const origin = upstream && m.relayRight === null;
  const headers = origin || base.snap.settings.tracking.enabled ? new HeaderCollector() : null;
  const tls = session.secure && session.tlsOptions ? { protocol: session.tlsOptions.version ?? 'TLS', cipher: session.tlsOptions.name } : null;
  const header = receivedHeader({
    helo: session.hostNameAppearsAs || 'unknown',
    clientAddress: base.client.text,
    hostname: base.snap.settings.hostname,
    listener: m.listener.name,
    id: m.id,
    tls,
    authenticated: base.user !== null,
    smtputf8: session.envelope.smtpUtf8 === true,
    recipient: m.recipients.length === 1 ? (m.recipients[0]?.address ?? null) : null,
    date: new Date(),
  });
  const put = (chunk: Buffer, ours: boolean) => (watchers.length === 0 ? writer.write(chunk) : Promise.all([writer.write(chunk), ...watchers.map((w) => w.feed(chunk, ours))]));
  await put(Buffer.from(header, 'utf8'), true);
  let writing = true;
  for await (const chunk of stream) {
    streamedBytes(chunk.length);
    // What the guard passes on may differ from what came (bare LFs made CRLF).
    const clean = writing ? guard.feed(chunk) : null;
    if (clean) {
      headers?.feed(clean);
      await put(clean, false);
    } else writing = false;
  }
  return { guard, headers, origin };
}

/** The checks of the end of DATA, on the message's origin. */
async function decide(deps: ReceiveDeps, m: IncomingMessage, upstream: boolean, spooled: Spooled, contents: () => ReturnType<MessageWriter['contents']>): Promise<{ result: StageResult; checkLog: Fields }> {
  const received = spooled.origin ? (spooled.headers?.values('received') ?? []) : [];
  const { origin, found } = originOf(m.base.snap, m.base.client, upstream, received);
  if (found.fallback) deps.logger.log('antispam.origin_fallback', { id: m.id, cid: m.session.id, client: m.base.client.text, origin: found.origin, reason: found.fallback });
  const input = { id: m.id, sender: m.sender, recipients: m.recipients.map((r) => r.address), received, origin, added: { points: 0, symbols: [], headers: [], auth: [] }, contents };
  const result = await deps.runner.run('data', m.base, input);
  // The origin is part of the record whenever a check looked at it (the sender lists' end of DATA does not).
  const looked = m.relayRight === null && deps.runner.anyAtDataEnd(m.base, ['scan', 'rate', 'content', 'sender-lists']);
  return { result, checkLog: { ...m.checkLog, ...(looked ? originLog(found) : {}), ...result.log } };
}

function logRefusal(logger: Logger, m: IncomingMessage, r: StageResult, checkLog: Fields, ended: number): void {
  const base = { id: m.id, cid: m.session.id, client: m.base.client.text, sender: m.sender, recipients: m.recipients.map((x) => x.address) };
  if (r.by !== 'scan') {
    logger.log('antispam.refused', { ...base, action: 'reject', code: r.error?.code, rule: r.rule, reason: r.reason, checks: checkLog });
    return;
  }
  const scan = { ...(r.report.scan as Fields), ...(Object.keys(checkLog).length ? { checks: checkLog } : {}) };
  const action = r.outcome === 'discard' ? 'blackhole' : r.error?.temporary ? 'tempfail' : 'reject';
  logger.log(r.outcome === 'discard' ? 'scan.blackholed' : 'scan.refused', { ...base, relayed: m.relayRight !== null, action, code: r.error?.code ?? 250, rule: r.rule, reason: r.reason, scan, ...(r.outcome === 'discard' ? { reply_ms: sinceMs(ended) } : {}) });
}

/** The commit (the 250's condition), its log line, and the hand-over to the queue. */
async function store(deps: ReceiveDeps, m: IncomingMessage, writer: MessageWriter, r: StageResult, checkLog: Fields, spooled: Spooled, committed: (c: Committed, quarantined: boolean) => void, ended: number): Promise<ReceiveOutcome> {
  const { session, base, id } = m;
  const { guard } = spooled;
  // The body's rewrite (the content rules' strip) first: the header edits and the DKIM signature are for the message as it leaves.
  const refused = r.outcome === 'quarantine' ? null : await rewrite(writer, r);
  const quarantined = r.outcome === 'quarantine' || refused !== null;
  const relayed = m.relayRight !== null;
  const envelope = envelopeOf(m, relayed);
  if (refused !== null) envelope.quarantine = { at: envelope.received_at, rule: STRIP_REFUSED_RULE, reason: `the strip action could not remove the parts: ${refused}` };
  else if (quarantined) envelope.quarantine = { at: envelope.received_at, rule: r.rule ?? '', reason: r.reason ?? '' };
  // A rate limit with action hold tripped (src/checks/rate-limits.ts): committed held, for an administrator to release.
  const hold = quarantined ? undefined : (r.report.rate_hold as RateHold | undefined);
  if (hold) {
    envelope.held = true;
    envelope.history = [{ at: envelope.received_at, event: 'hold', detail: `rate limit ${hold.limit} (${hold.reason})` }];
  }
  let edit = r.edit ?? undefined;
  // DKIM last, on the message as the edit leaves it; with no key configured this is one comparison.
  let dkim: SignResult | null = null;
  const dkimSettings = base.snap.settings.dkim;
  if (wantsSigning(dkimSettings, true) && signable(dkimSettings, relayed || base.user !== null, envelope.recipients.some((x) => x.kind === 'relay'))) {
    dkim = await signMessage(dkimSettings, true, await writer.contents(), edit);
    if (dkim.signed) edit = withSignature(edit, dkim.field);
  }
  const c = await writer.commit(envelope, { area: quarantined ? 'quarantine' : 'queue', ...(edit ? { edit } : {}), claim: quarantined || hold ? undefined : deps.claim?.() });
  committed(c, quarantined);
  // The rate limits count a message once it is stored (src/checks/rate-limits.ts): an abandoned transaction costs nothing.
  (r.report.rate_commit as RateCommit | undefined)?.();
  const scan = { ...(r.report.scan as Fields | undefined), ...(Object.keys(checkLog).length ? { checks: checkLog } : {}) };
  deps.logger.log(quarantined ? 'quarantined' : 'queued', {
    id,
    cid: session.id,
    client: base.client.text,
    user: base.user?.name ?? null,
    sender: m.sender,
    recipients: envelope.recipients.map((x) => ({ address: x.address, kind: x.kind, rule: x.rule })),
    relayed,
    size: c.envelope.size,
    revision: base.snap.revision,
    ...trackedHeaders(base.snap.settings.tracking, spooled.headers),
    scan,
    ...(guard.normalized > 0 ? { bare_lf_normalized: guard.normalized } : {}),
    ...(dkim ? { dkim: dkimLog(dkim) } : {}),
    ...(r.rewrite && !quarantined ? { rewrite: r.rewrite.describe } : {}),
    ...(quarantined ? { rule: envelope.quarantine?.rule, reason: envelope.quarantine?.reason } : {}),
    ...(hold ? { held: true, rule: `rate limit ${hold.limit}`, reason: hold.reason } : {}),
    reply_ms: sinceMs(ended),
  });
  const ok: ReceiveOutcome = { error: null, message: `2.0.0 Ok: queued as ${id}` };
  if (!quarantined) ok.queued = c;
  return ok;
}

/** The quarantine rule of a message whose strip could not be done (content:* is the content category's, see src/quarantine). */
export const STRIP_REFUSED_RULE = 'content:strip';

/**
 * Applies the end of DATA's body rewrite, if any. A strip that cannot be
 * done for this message (StripRefused: a part that cannot be removed alone)
 * leaves the message as it was and says why: it goes to the quarantine, the
 * part is never delivered. Any other failure rejects (a 451: nothing is
 * committed, the client keeps the message).
 */
async function rewrite(writer: MessageWriter, r: StageResult): Promise<string | null> {
  const change = r.rewrite;
  if (!change) return null;
  try {
    await writer.rewrite((source) => change.apply(source));
    return null;
  } catch (err) {
    if (err instanceof StripRefused) return err.message;
    throw err;
  }
}

/** For message tracking: the Message-ID, and the Subject only when tracking.subject says so (privacy: otherwise never logged). */
function trackedHeaders(t: TrackingSettings, headers: HeaderCollector | null): Fields {
  if (!t.enabled || !headers) return {};
  const out: Fields = {};
  const id = headers.values('message-id')[0];
  if (id) out.message_id = id.slice(0, 998);
  if (t.subject) {
    const subject = headers.values('subject')[0];
    if (subject !== undefined) out.subject = decodeWords(subject).slice(0, 998);
  }
  return out;
}

/** The queued line's account of signing: the d= and selectors, or why not (no key for the From domain...). */
function dkimLog(d: SignResult): Fields {
  return d.signed ? { signed: true, domain: d.domain, selectors: d.selectors } : { signed: false, reason: d.reason, ...(d.domain ? { domain: d.domain } : {}), ...(d.detail ? { detail: d.detail } : {}) };
}

function envelopeOf(m: IncomingMessage, relayed: boolean): Omit<Envelope, 'size' | 'id'> {
  const { session, base } = m;
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
    client: { address: base.client.text, helo: session.hostNameAppearsAs || '', user: base.user?.name ?? null, tls: session.secure, listener: m.listener.name },
    relayed,
    revision: base.snap.revision,
    body: session.envelope.bodyType === '8bitmime' ? '8bitmime' : '7bit',
    smtputf8: session.envelope.smtpUtf8 === true,
  };
  if (dsn?.ret || dsn?.envid) envelope.dsn = { ret: dsn.ret === 'FULL' || dsn.ret === 'HDRS' ? dsn.ret : null, envid: dsn.envid ?? null };
  return envelope;
}

/** Milliseconds since `start` (performance.now()), to a tenth: the `.`→250 time of the log line (metrics' histogram). */
function sinceMs(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
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
