// Quarantined messages (a scanner's verdict, src/scan): kept in the spool's
// quarantine/ area with their envelope and the reason, never delivered until
// an admin releases one. A released message enters the queue as if it had
// passed the scan; a deleted one is gone without notice.

import { addHistory, type Envelope } from './envelope.ts';
import type { QueueManager } from './manager.ts';
import { QueueError } from './manager.ts';
import type { Spool, SpooledMessage } from './spool.ts';

export class Quarantine {
  private readonly spool: Spool;

  constructor(spool: Spool) {
    this.spool = spool;
  }

  list(): SpooledMessage[] {
    return this.spool.list('quarantine');
  }

  read(id: string): SpooledMessage | null {
    return this.spool.read(id, 'quarantine');
  }

  /** Moves the message into the queue; the manager (when there is one) starts its delivery. */
  async release(id: string, manager: QueueManager | null): Promise<Envelope> {
    const m = this.need(id);
    const env: Envelope = structuredClone(m.envelope);
    const why = env.quarantine?.reason;
    delete env.quarantine;
    addHistory(env, Date.now(), 'released from quarantine', why === undefined ? 'by the administrator' : `by the administrator (was: ${why})`);
    await this.spool.release(env);
    manager?.enqueue(env);
    return env;
  }

  delete(id: string): void {
    this.need(id);
    this.spool.removeQuarantined(id);
  }

  private need(id: string): SpooledMessage {
    const m = this.read(id);
    if (!m) throw new QueueError(`no message ${id} in quarantine`);
    return m;
  }
}
