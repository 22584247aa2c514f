// Slows down password guessing: each failed AUTH from a client address adds
// a delay to the reply, and past a limit within a window the connection is
// closed with 421 4.7.0. Kept per address across connections, in memory, with
// a bounded number of entries. A successful login does not forgive the
// failures of the window: otherwise a guesser who owns one account could log
// in between guesses and never be slowed down.

export interface ThrottleSettings {
  maxFailures: number;
  delayMs: number;
  windowMs: number;
}

interface Entry {
  failures: number;
  first: number;
}

const MAX_ENTRIES = 100_000;

/**
 * What a login asks: the AuthThrottle itself, or (in an SMTP worker process)
 * requests to the primary's, so that failures count across processes. An
 * answer that does not come rejects; the login then fails closed (454).
 */
export interface AuthThrottlePort {
  fail(client: string, s: ThrottleSettings): { delayMs: number; close: boolean } | Promise<{ delayMs: number; close: boolean }>;
  blocked(client: string, s: ThrottleSettings): boolean | Promise<boolean>;
}

export class AuthThrottle implements AuthThrottlePort {
  private readonly entries = new Map<string, Entry>();

  /** Records a failure; returns the delay before replying and whether to close. */
  fail(client: string, s: ThrottleSettings, now = Date.now()): { delayMs: number; close: boolean } {
    let e = this.entries.get(client);
    if (!e || now - e.first > s.windowMs) {
      e = { failures: 0, first: now };
      if (this.entries.size >= MAX_ENTRIES) this.prune(s.windowMs, now);
    }
    e.failures++;
    this.entries.delete(client);
    this.entries.set(client, e);
    return { delayMs: Math.min(e.failures * s.delayMs, 10_000), close: e.failures >= s.maxFailures };
  }

  /** True when the address is already over the limit (checked before trying a password). */
  blocked(client: string, s: ThrottleSettings, now = Date.now()): boolean {
    const e = this.entries.get(client);
    return e !== undefined && now - e.first <= s.windowMs && e.failures >= s.maxFailures;
  }


  private prune(windowMs: number, now: number): void {
    for (const [k, e] of this.entries) {
      if (now - e.first > windowMs || this.entries.size >= MAX_ENTRIES) this.entries.delete(k);
      if (this.entries.size < MAX_ENTRIES / 2) break;
    }
  }
}
