// What an SMTP worker process asks the primary for, so that counts are the
// same across processes: the failed-login throttle, the rate limits, the
// personal sender lists and the greylist (the primary's store: one writer of
// greylist.db). Each is the port the front end already uses, answered by a
// request (src/process/ipc.ts) with a timeout; an unanswered request rejects
// and the caller fails closed as it does when its store is away (454 for a
// login, 451 for a rate check or a greylist check; a sender-list lookup is
// 'unavailable', which applies the admin's policy alone).

import type { GreylistStore } from '../antispam/greylist-store.ts';
import type { GreylistTimes, GreylistVerdict } from '../antispam/greylist.ts';
import type { RateCounter } from '../checks/services.ts';
import type { RateContext } from '../limits/rate-limiter.ts';
import type { RateDecision, RateSubject, RateUnit } from '../limits/rate-rules.ts';
import type { RateLimit } from '../config/document.ts';
import type { ListLookup, SenderListLookup } from '../portal/sender-list-cache.ts';
import type { AuthThrottlePort, ThrottleSettings } from '../smtp/auth-throttle.ts';
import type { Requester } from './ipc.ts';
import { toWire } from './rate-subject.ts';

export class RemoteThrottle implements AuthThrottlePort {
  private readonly rq: Requester;
  constructor(rq: Requester) {
    this.rq = rq;
  }
  fail(client: string, s: ThrottleSettings): Promise<{ delayMs: number; close: boolean }> {
    return this.rq.request('auth.fail', client, s);
  }
  blocked(client: string, s: ThrottleSettings): Promise<boolean> {
    return this.rq.request('auth.blocked', client, s);
  }
}

export class RemoteRate implements RateCounter {
  private readonly rq: Requester;
  private readonly note: (op: string, args: unknown[]) => void;
  constructor(rq: Requester, note: (op: string, args: unknown[]) => void) {
    this.rq = rq;
    this.note = note;
  }
  check(limits: readonly RateLimit[], unit: RateUnit, subject: RateSubject, n: number, ctx: RateContext): Promise<RateDecision> {
    if (limits.length === 0) return Promise.resolve({ kind: 'pass' });
    return this.rq.request('rate.check', limits, unit, toWire(limits, subject), n, ctx);
  }
  /** At a commit, after the 250 is due: a count lost with the primary is lost with its memory anyway. */
  count(limits: readonly RateLimit[], unit: RateUnit, subject: RateSubject, n: number): void {
    if (limits.length === 0 || n <= 0) return;
    this.note('rate.count', [limits, unit, toWire(limits, subject), n]);
  }
}

export class RemoteSenderLists implements SenderListLookup {
  private readonly rq: Requester;
  constructor(rq: Requester) {
    this.rq = rq;
  }
  async lookup(owner: string): Promise<ListLookup> {
    try {
      return await this.rq.request<ListLookup>('senders.lookup', owner);
    } catch {
      return 'unavailable';
    }
  }
}

export class RemoteGreylist implements GreylistStore {
  private readonly rq: Requester;
  constructor(rq: Requester) {
    this.rq = rq;
  }
  check(key: string, now: number, t: GreylistTimes): Promise<GreylistVerdict> {
    return this.rq.request('greylist.check', key, now, t);
  }
  /** The primary prunes its own store. */
  prune(): Promise<number> {
    return Promise.resolve(0);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
