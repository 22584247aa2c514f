// What checks may use beyond the session's facts: the queue's store (is
// there room?), the greylist store, the directories (LDAP), the DNS resolver
// of the settings and a clock. One instance per daemon; `policy explain` makes its own, without a
// greylist store (greylisting is then not asked) and without a queue.

import { Resolver } from 'node:dns/promises';
import type { Settings } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import type { GreylistStore } from '../antispam/greylist-store.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import type { Directories } from '../directory/directories.ts';
import { Callout, type CalloutPort } from '../delivery/callout.ts';
import type { RateLimiter } from '../limits/rate-limiter.ts';

/** What the rate check uses of a RateLimiter (an SMTP worker process asks the primary's: src/process). */
export type RateCounter = Pick<RateLimiter, 'check' | 'count'>;
import type { SenderListLookup } from '../portal/sender-list-cache.ts';

export class CheckServices {
  readonly greylist: GreylistStore | null;
  readonly store: Pick<QueueStore, 'admits'> | null;
  /** null: only local users (no directory client in this process). */
  readonly directories: Directories | null;
  /** Recipient verification's SMTP probes and their cache (one per process). */
  readonly callout: CalloutPort;
  /** The rate limits' counter (limits.rate); null: not counted (policy explain). */
  readonly rate: RateCounter | null;
  /** The personal sender lists (src/portal), from memory; null: not applied (policy explain). */
  readonly senderLists: SenderListLookup | null;
  readonly now: () => number;
  private resolvers = new Map<string, Resolver>();

  constructor(deps: { greylist?: GreylistStore | null; store?: Pick<QueueStore, 'admits'> | null; directories?: Directories | null; callout?: CalloutPort; rate?: RateCounter | null; senderLists?: SenderListLookup | null; now?: () => number } = {}) {
    this.greylist = deps.greylist ?? null;
    this.store = deps.store ?? null;
    this.directories = deps.directories ?? null;
    this.callout = deps.callout ?? new Callout();
    this.rate = deps.rate ?? null;
    this.senderLists = deps.senderLists ?? null;
    this.now = deps.now ?? Date.now;
  }

  /** The resolver for the settings' DNS servers and timeout (one per combination). */
  resolver(s: Settings): Resolver {
    const timeout = durationMs(s.antispam.dns_timeout);
    const key = `${timeout} ${s.dns.servers.join(',')}`;
    let r = this.resolvers.get(key);
    if (!r) {
      r = new Resolver({ timeout, tries: 1 });
      if (s.dns.servers.length) r.setServers([...s.dns.servers]);
      this.resolvers.set(key, r);
    }
    return r;
  }
}
