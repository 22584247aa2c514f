// Quarantined messages (a scanner's verdict, src/scan): kept in the queue
// store's quarantine area with their envelope and the reason, never delivered
// until an admin releases one. A released message enters the queue as if it
// had passed the scan; a deleted one is gone without notice.

import { addHistory, type Envelope } from './envelope.ts';
import { QueueError } from './queue-error.ts';
import type { QueueStore, StoredBody } from './queue-store.ts';

export class Quarantine {
  private readonly store: QueueStore;

  constructor(store: QueueStore) {
    this.store = store;
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
  async release(id: string): Promise<Envelope> {
    const env: Envelope = structuredClone(await this.need(id));
    const why = env.quarantine?.reason;
    delete env.quarantine;
    addHistory(env, Date.now(), 'released from quarantine', why === undefined ? 'by the administrator' : `by the administrator (was: ${why})`);
    await this.store.release(env);
    return env;
  }

  async delete(id: string): Promise<void> {
    await this.need(id);
    await this.store.removeQuarantined(id);
  }

  private async need(id: string): Promise<Envelope> {
    const m = await this.read(id);
    if (!m) throw new QueueError(`no message ${id} in quarantine`);
    return m;
  }
}
