// LISTEN/NOTIFY for the cluster store, one channel per concern: the adapters
// announce a change with pg_notify() inside the transaction that makes it
// (delivered at commit, to every node); a listener is also called when the
// LISTEN connection (re)connects, because notifications sent while it was
// away are lost: the caller then re-reads what it watches.

import type { Sql } from './connect.ts';

export const CHANNEL_CONFIG = 'mailwarden_config';
export const CHANNEL_QUEUE = 'mailwarden_queue';
/** The personal sender lists (src/portal): the payload is the owner whose lists changed. */
export const CHANNEL_SENDER_LISTS = 'mailwarden_sender_lists';

/** Listens on `channel` while someone subscribes; `fn` gets the payload, or null after a (re)connect. */
export class Channel {
  private readonly fns = new Set<(payload: string | null) => void>();
  private listening: Promise<{ unlisten(): Promise<void> }> | null = null;
  private readonly sql: Sql;
  private readonly channel: string;

  constructor(sql: Sql, channel: string) {
    this.sql = sql;
    this.channel = channel;
  }

  /** Starts listening now (open()): resolves once the LISTEN is in place, rejects when the database cannot be reached. */
  async start(): Promise<void> {
    if (!this.listening) {
      this.listening = this.sql.listen(
        this.channel,
        (payload) => this.emit(payload),
        () => this.emit(null),
      );
      this.listening.catch(() => (this.listening = null));
    }
    await this.listening;
  }

  add(fn: (payload: string | null) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }

  private emit(payload: string | null): void {
    for (const fn of [...this.fns]) {
      try {
        fn(payload);
      } catch {
        // A listener's fault is its own.
      }
    }
  }

  async stop(): Promise<void> {
    const l = this.listening;
    this.listening = null;
    if (l) await l.then((x) => x.unlisten()).catch(() => {});
  }
}
