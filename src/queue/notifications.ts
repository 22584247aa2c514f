// Writes one delivery status notification into the queue store: who gets it (the
// sender; for a failed notification of ours, the postmaster once; never <>),
// its RFC 3464 text (src/dsn/compose.ts) with the original headers or, for
// RET=FULL and a small enough message, the whole message, and its envelope.
// The notifier (src/queue/notifier.ts) decides when one is due; it is delivered like any other message.

import type { Snapshot } from '../config/snapshot.ts';
import { durationMs } from '../core/duration.ts';
import { composeDsn, type DsnRecipient } from '../dsn/compose.ts';
import type { Logger } from '../log/logger.ts';
import type { BounceType, Envelope, EnvelopeRecipient } from './envelope.ts';
import { newQueueId } from './queue-id.ts';
import type { QueueStore } from './queue-store.ts';

export interface NotificationContext {
  store: QueueStore;
  snapshot: Snapshot;
  logger: Logger;
  now: number;
}

/** The committed notification's envelope, or null when nobody may get one (logged as dsn.dropped). */
export async function queueNotification(ctx: NotificationContext, env: Envelope, type: BounceType, about: EnvelopeRecipient[]): Promise<Envelope | null> {
  const s = ctx.snapshot.settings;
  let to: string | null = env.sender;
  let level: 1 | 2 = 1;
  if (env.sender === '') {
    to = type === 'failure' && env.bounce?.level === 1 ? s.postmaster : null;
    level = 2;
  }
  if (!to) {
    const reason = env.sender === '' ? (env.bounce?.level === 2 ? 'a notification to the postmaster failed: no further' : 'the sender is <>') : 'no recipient';
    ctx.logger.log('dsn.dropped', { id: env.id, type, reason });
    return null;
  }
  const full = env.dsn?.ret === 'FULL' && env.size <= s.queue.bounce_max_size;
  const headers = await ctx.store.headers(env.id);
  const stored = full ? await ctx.store.body(env.id) : null;
  if (full && !stored) throw new Error(`the message ${env.id} is no longer in the queue`);
  const message = stored ? await stored.whole() : null;
  const recipients: DsnRecipient[] = about.map((r) => ({
    address: r.address,
    orcpt: r.orcpt,
    action: type === 'failure' ? 'failed' : type === 'delay' ? 'delayed' : 'relayed',
    status: r.last_status ?? (type === 'success' ? '2.0.0' : '4.0.0'),
    remote: r.remote ?? null,
    diagnostic: r.last_error ?? null,
    diagnosticType: r.last_code !== undefined ? 'smtp' : 'x-mailwarden',
    lastAttempt: r.done_at ? new Date(r.done_at) : new Date(ctx.now),
    willRetryUntil: type === 'delay' ? new Date(Date.parse(env.received_at) + durationMs(s.queue.lifetime)) : null,
  }));
  const id = newQueueId(ctx.now);
  const data = composeDsn({
    type,
    hostname: s.hostname,
    queueId: env.id,
    envid: env.dsn?.envid ?? null,
    arrival: new Date(env.received_at),
    now: new Date(ctx.now),
    recipients,
    to,
    originalHeaders: headers,
    originalMessage: message,
  });
  const writer = ctx.store.begin(id);
  try {
    await writer.write(data);
    const { envelope: saved } = await writer.commit({
      version: 1,
      received_at: new Date(ctx.now).toISOString(),
      sender: '',
      // NOTIFY=NEVER for the next hop; a failure still escalates (level 2) in the manager.
      recipients: [{ address: to, kind: 'relay', rule: 'dsn', status: 'queued', notify: ['NEVER'] }],
      client: { address: '127.0.0.1', helo: s.hostname, user: null, tls: false, listener: 'dsn' },
      relayed: true,
      revision: ctx.snapshot.revision,
      body: '8bitmime',
      smtputf8: /[^\x00-\x7f]/.test(to),
      bounce: { of: env.id, level, type },
    });
    ctx.logger.log('dsn.queued', { id, of: env.id, type, to, level, recipients: about.map((r) => r.address) });
    return saved;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
