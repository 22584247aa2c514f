// The notifier: after an attempt, decides which delivery status
// notifications its changes call for (failures, NOTIFY=SUCCESS, a delay
// warning) and queues them (src/queue/notifications.ts). It runs before the
// envelope recording the attempt is settled: a crash in between may send a
// notification twice, never lose one. The queued notifications are announced
// by the store and delivered like any other message.

import type { Snapshot } from '../config/snapshot.ts';
import { durationMs } from '../core/duration.ts';
import type { Logger } from '../log/logger.ts';
import { addHistory, type BounceType, type Envelope, type EnvelopeRecipient } from './envelope.ts';
import { queueNotification } from './notifications.ts';
import type { QueueStore } from './queue-store.ts';

export interface NotifierDeps {
  store: QueueStore;
  snapshot: () => Snapshot;
  logger: Logger;
  now: () => number;
}

const notifies = (r: EnvelopeRecipient, on: 'SUCCESS' | 'FAILURE' | 'DELAY') => (r.notify ? r.notify.includes(on) : on !== 'SUCCESS');

export class Notifier {
  private readonly deps: NotifierDeps;

  constructor(deps: NotifierDeps) {
    this.deps = deps;
  }

  /**
   * `changed`: recipients that reached a final state in this attempt;
   * `passedOn`: those delivered to a hop that announces DSN (their NOTIFY went along).
   * Records what it queued in the envelope (history, delay_warned).
   */
  async afterAttempt(env: Envelope, changed: readonly EnvelopeRecipient[], passedOn: ReadonlySet<EnvelopeRecipient>): Promise<void> {
    // Our own notifications carry NOTIFY=NEVER for the next hop's sake, but
    // their failure still goes to the postmaster (queueNotification decides).
    const failed = changed.filter((r) => r.status === 'failed' && (env.bounce !== undefined || notifies(r, 'FAILURE')));
    if (failed.length) await this.notify(env, 'failure', failed);
    // Postfix's rule: "relayed" only for a hop that does not announce DSN; one that does got NOTIFY.
    const succeeded = changed.filter((r) => r.status === 'delivered' && r.notify?.includes('SUCCESS') && !passedOn.has(r));
    if (succeeded.length) await this.notify(env, 'success', succeeded);
    const warning = this.deps.snapshot().settings.queue.delay_warning;
    if (warning !== null && !env.delay_warned && this.deps.now() - Date.parse(env.received_at) >= durationMs(warning)) {
      const delayed = env.recipients.filter((r) => r.status === 'deferred' && notifies(r, 'DELAY'));
      if (delayed.length) {
        await this.notify(env, 'delay', delayed);
        env.delay_warned = true;
      }
    }
  }

  private async notify(env: Envelope, type: BounceType, about: EnvelopeRecipient[]): Promise<void> {
    const now = this.deps.now();
    const queued = await queueNotification({ store: this.deps.store, snapshot: this.deps.snapshot(), logger: this.deps.logger, now }, env, type, about);
    if (!queued) return;
    addHistory(env, now, `dsn.${type}`, `${queued.id} to <${queued.recipients[0]?.address ?? ''}>`);
  }
}
