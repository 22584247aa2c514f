// Quarantined messages (a scanner's verdict, src/scan): kept in the queue
// store's quarantine area with their envelope and the reason, never delivered
// until an admin releases one. A released message enters the queue as if it
// had passed the scan; a deleted one is gone without notice.

import { addHistory, type Envelope } from './envelope.ts';
import { QueueError } from './queue-error.ts';
import type { QueueStore, StoredBody } from './queue-store.ts';
import type { Logger } from '../log/logger.ts';
import { categoryOf } from '../quarantine/quarantine-category.ts';

export class Quarantine {
  private readonly store: QueueStore;
  private readonly logger: Logger | undefined;

  /** `logger`: where quarantine.released / quarantine.deleted go (as for a recipient's share, src/quarantine). */
  constructor(store: QueueStore, logger?: Logger) {
    this.store = store;
    this.logger = logger;
  }

  list(): Promise<Envelope[]> {
    return this.store.list('quarantine');
  }

  read(id: string): Promise<Envelope | null> {
    return this.store.read(id, 'quarantine');
  }

  body(id: string): Promise<StoredBody | null> {
    return this.store.body(id, 'quarantine');
  }

  /** Moves the message into the queue; the store announces the new work to the scheduler. */
  async release(id: string, by = 'administrator'): Promise<Envelope> {
    const before = await this.need(id);
    const env: Envelope = structuredClone(before);
    const why = env.quarantine?.reason;
    delete env.quarantine;
    addHistory(env, Date.now(), 'released from quarantine', why === undefined ? 'by the administrator' : `by the administrator (was: ${why})`);
    await this.store.release(env);
    this.logged('quarantine.released', before, by, id);
    return env;
  }

  async delete(id: string, by = 'administrator'): Promise<void> {
    const before = await this.need(id);
    await this.store.removeQuarantined(id);
    this.logged('quarantine.deleted', before, by);
  }

  /** The same line as a recipient's release or delete (src/quarantine/recipient-quarantine.ts), by the administrator. */
  private logged(event: string, env: Envelope, by: string, queued?: string): void {
    const rule = env.quarantine?.rule ?? '';
    this.logger?.log(event, {
      id: env.id,
      ...(queued ? { queued } : {}),
      recipients: env.recipients.map((r) => r.address),
      by: { kind: 'administrator', name: by },
      rule,
      category: categoryOf(rule),
    });
  }

  private async need(id: string): Promise<Envelope> {
    const m = await this.read(id);
    if (!m) throw new QueueError(`no message ${id} in quarantine`);
    return m;
  }
}
