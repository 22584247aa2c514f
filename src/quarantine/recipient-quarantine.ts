// RecipientQuarantine (quarantine-access.ts) over the QueueStore: what one
// recipient may see and do with the quarantine (the digest's links, the user
// portal), and an administrator acting on one recipient's share.
//
// Releasing or deleting acts on the given addresses' share only. When they
// are all the recipients still waiting, the whole message moves (store.release
// or removeQuarantined). Otherwise the store splits it atomically
// (splitQuarantined): a released copy with only those recipients enters the
// queue under a new id, and the quarantined envelope keeps the others. Each
// split is conditional on the envelope read (two shares acted on at the same
// time never undo each other: the second reads again), and changes of one
// message are serialised in this process.

import { addHistory, type Envelope } from '../queue/envelope.ts';
import { QueueError } from '../queue/queue-error.ts';
import { newQueueId } from '../queue/queue-id.ts';
import { QuarantineChanged, type QueueStore } from '../queue/queue-store.ts';
import type { Logger } from '../log/logger.ts';
import type { QuarantineSettings } from '../config/quarantine-settings.ts';
import { QuarantineDenied, type QuarantineActor, type RecipientQuarantine, type RecipientQuarantineEntry, type ReleaseOutcome } from './quarantine-access.ts';
import { actorField, actorText, categoryOf, mayRelease } from './quarantine-category.ts';
import { subjectOf } from './header-subject.ts';

/** The most entries listFor() gives back. */
export const LIST_MAX = 500;
/** How much of a message's header section is read for its Subject. */
const HEADERS_MAX = 64 * 1024;
/** How often a split is tried again when another change came between the read and the write. */
const SPLIT_TRIES = 5;

export interface RecipientQuarantineDeps {
  store: QueueStore;
  /** The current settings' quarantine.self_release. */
  selfRelease: () => QuarantineSettings['self_release'];
  logger: Logger;
  now?: () => number;
}

const norm = (a: string) => a.trim().toLowerCase();

export class StoreRecipientQuarantine implements RecipientQuarantine {
  private readonly d: RecipientQuarantineDeps;
  private readonly now: () => number;
  /** One change at a time per message (the tail of each message's chain; gone when it settles). */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(deps: RecipientQuarantineDeps) {
    this.d = deps;
    this.now = deps.now ?? Date.now;
  }

  async listFor(addresses: readonly string[], limit = LIST_MAX): Promise<RecipientQuarantineEntry[]> {
    const want = new Set(addresses.map(norm).filter((a) => a !== ''));
    const max = Math.max(0, Math.min(Math.floor(limit), LIST_MAX));
    if (want.size === 0 || max === 0) return [];
    const all = await this.d.store.list('quarantine');
    const mine: { env: Envelope; recipients: string[] }[] = [];
    // The store lists oldest first: newest first for the viewer.
    for (let i = all.length - 1; i >= 0 && mine.length < max; i--) {
      const env = all[i] as Envelope;
      const recipients = env.recipients.map((r) => r.address).filter((a) => want.has(norm(a)));
      if (recipients.length > 0) mine.push({ env, recipients });
    }
    const selfRelease = this.d.selfRelease();
    const out: RecipientQuarantineEntry[] = [];
    for (const { env, recipients } of mine) {
      const category = categoryOf(env.quarantine?.rule);
      let subject: string | null = null;
      try {
        subject = subjectOf(await this.d.store.headers(env.id, 'quarantine', HEADERS_MAX));
      } catch {
        // Released or deleted since the list: left out.
        continue;
      }
      out.push({
        id: env.id,
        received_at: env.received_at,
        sender: env.sender,
        subject,
        recipients,
        rule: env.quarantine?.rule ?? '',
        reason: env.quarantine?.reason ?? '',
        category,
        size: env.size,
        releasable: mayRelease(category, { kind: 'user', name: '' }, selfRelease),
      });
    }
    return out;
  }

  releaseFor(id: string, addresses: readonly string[], by: QuarantineActor): Promise<ReleaseOutcome> {
    return this.serial(id, () => this.act('release', id, addresses, by));
  }

  deleteFor(id: string, addresses: readonly string[], by: QuarantineActor): Promise<ReleaseOutcome> {
    return this.serial(id, () => this.act('delete', id, addresses, by));
  }

  private async act(op: 'release' | 'delete', id: string, addresses: readonly string[], by: QuarantineActor): Promise<ReleaseOutcome> {
    const want = new Set(addresses.map(norm).filter((a) => a !== ''));
    for (let attempt = 1; ; attempt++) {
      const env = await this.d.store.read(id, 'quarantine');
      if (!env) throw new QueueError(`no message ${id} in quarantine`);
      const share = env.recipients.filter((r) => want.has(norm(r.address)));
      if (share.length === 0) throw new QuarantineDenied(`${[...want].join(', ') || 'nobody'} is not a recipient of message ${id} still in quarantine`);
      const rule = env.quarantine?.rule ?? '';
      const category = categoryOf(rule);
      if (op === 'release' && !mayRelease(category, by, this.d.selfRelease())) {
        throw new QuarantineDenied(category === 'malware' ? 'this message was quarantined as malware: only an administrator may release it' : `messages quarantined by ${rule || 'this rule'} may be released by an administrator only`);
      }
      const recipients = share.map((r) => r.address);
      try {
        const outcome = await this.apply(op, env, share.length === env.recipients.length ? null : recipients, by);
        this.d.logger.log(op === 'release' ? 'quarantine.released' : 'quarantine.deleted', {
          id,
          ...(outcome.queued ? { queued: outcome.queued } : {}),
          recipients,
          by: actorField(by),
          rule,
          category,
        });
        return outcome;
      } catch (err) {
        if (err instanceof QuarantineChanged && attempt < SPLIT_TRIES) continue;
        throw err;
      }
    }
  }

  /** Does it: `share` null → the whole message. */
  private async apply(op: 'release' | 'delete', env: Envelope, share: string[] | null, by: QuarantineActor): Promise<ReleaseOutcome> {
    const now = this.now();
    const who = actorText(by);
    const why = env.quarantine?.reason;
    if (share === null) {
      const recipients = env.recipients.map((r) => r.address);
      if (op === 'delete') {
        await this.d.store.removeQuarantined(env.id);
        return { recipients };
      }
      const out: Envelope = structuredClone(env);
      delete out.quarantine;
      addHistory(out, now, 'released from quarantine', why === undefined ? `by ${who}` : `by ${who} (was: ${why})`);
      await this.d.store.release(out);
      return { recipients, queued: out.id };
    }
    const set = new Set(share.map(norm));
    const remaining: Envelope = structuredClone(env);
    remaining.recipients = env.recipients.filter((r) => !set.has(norm(r.address)));
    addHistory(remaining, now, op === 'release' ? 'share released' : 'share deleted', `${share.join(', ')} by ${who}`);
    if (op === 'delete') {
      await this.d.store.splitQuarantined(env, remaining, null);
      return { recipients: share };
    }
    const released: Envelope = structuredClone(env);
    released.id = newQueueId(now);
    released.recipients = structuredClone(env.recipients.filter((r) => set.has(norm(r.address))));
    delete released.quarantine;
    addHistory(released, now, 'released from quarantine', `share of quarantined ${env.id} for ${share.join(', ')}, by ${who}${why === undefined ? '' : ` (was: ${why})`}`);
    await this.d.store.splitQuarantined(env, remaining, released);
    return { recipients: share, queued: released.id };
  }

  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = this.busy.get(id) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => {});
    this.busy.set(id, tail);
    void tail.then(() => {
      if (this.busy.get(id) === tail) this.busy.delete(id);
    });
    return run;
  }
}
