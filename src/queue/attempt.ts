// How an attempt on a claimed message ends (a delivery, or an admin's bounce
// or delete): the history line, the notifications its changes call for, then
// the outcome settled in the store, which gives up the claim. A settle that
// finds the claim lost (its lease expired and another node took the message)
// writes nothing: the message is its new owner's, and this attempt may have
// delivered it a second time, which is counted and logged.

import { cleanError } from '../delivery/outcome.ts';
import type { Logger } from '../log/logger.ts';
import { addHistory, type Envelope, type EnvelopeRecipient } from './envelope.ts';
import type { Notifier } from './notifier.ts';
import { ClaimLostError, type Claim, type QueueStore } from './queue-store.ts';

export interface AttemptDeps {
  store: QueueStore;
  notifier: Notifier;
  logger: Logger;
  now: () => number;
  /** Told of each claim found lost at settle (a possible duplicate delivery). */
  onClaimLost?: (id: string) => void;
}

/** One claimed message under way: its envelope as the attempt changes it. */
export interface AttemptState {
  claim: Claim;
  env: Envelope;
  /** Recipients that reached a final state during the attempt. */
  changed: Set<EnvelopeRecipient>;
  /** Delivered to a hop that announces DSN: NOTIFY went with them, so no success report of ours. */
  passedOn: Set<EnvelopeRecipient>;
  /** The renewal found the claim lost: nothing may be settled. */
  lost: boolean;
}

const pending = (r: EnvelopeRecipient) => r.status === 'queued' || r.status === 'deferred';

/**
 * Ends the attempt. `deleted`: the message goes without notice. Throws when
 * a notification or the new envelope cannot be written (the claim is then
 * kept until its lease runs out, and the message is tried again).
 */
export async function closeAttempt(deps: AttemptDeps, a: AttemptState, deleted = false): Promise<void> {
  const env = a.env;
  if (deleted) {
    if (await settle(deps, a, null)) deps.logger.log('queue.removed', { id: env.id, reason: 'deleted by the administrator' });
    return;
  }
  const changed = [...a.changed];
  a.changed.clear();
  const counts = { delivered: 0, deferred: 0, failed: 0 };
  for (const r of env.recipients) if (r.status !== 'queued') counts[r.status]++;
  if (changed.length || counts.deferred) addHistory(env, deps.now(), 'attempt', `delivered ${counts.delivered}, deferred ${counts.deferred}, failed ${counts.failed}`);
  // Notifications are committed before the state that triggers them: a
  // crash in between may send one twice, never lose one.
  await deps.notifier.afterAttempt(env, changed, a.passedOn);
  a.passedOn.clear();
  if (!env.recipients.some(pending)) {
    // Not awaited (the worker moves on to its next job); a removal lost in
    // a crash means delivering again, never losing. Logged once done.
    void settle(deps, a, null).then(
      (done) => {
        if (done) deps.logger.log('queue.removed', { id: env.id, reason: 'every recipient is done', ...counts });
      },
      (err: unknown) => deps.logger.log('queue.error', { id: env.id, error: `cannot remove the delivered message: ${cleanError(err)}` }),
    );
    return;
  }
  await settle(deps, a, env);
}

/** Settles; false when the claim was lost (logged and counted, nothing written). */
async function settle(deps: AttemptDeps, a: AttemptState, env: Envelope | null): Promise<boolean> {
  try {
    if (a.lost) throw new ClaimLostError(a.claim.id);
    await deps.store.settle(a.claim, env);
    return true;
  } catch (err) {
    if (!(err instanceof ClaimLostError)) throw err;
    deps.logger.log('queue.claim_lost', { id: a.claim.id, node: a.claim.node, possible_duplicate: true, outcome: env === null ? 'done' : 'pending' });
    deps.onClaimLost?.(a.claim.id);
    return false;
  }
}
