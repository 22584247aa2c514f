// One log line per event and key (a client address) per interval, for events
// a stranger can repeat at will: refused connections, failed TLS handshakes.
// The first is logged at once; the ones after it within the interval are
// counted and logged as one line with `suppressed` when the interval ends, so
// the count is never lost and a flood costs a line a minute per client.

import type { LogFields, Logger } from './logger.ts';

interface Pending {
  fields: LogFields;
  suppressed: number;
}

export class LogThrottle {
  private readonly pending = new Map<string, Pending>();

  private readonly logger: Logger;
  private readonly intervalMs: number;
  /** Beyond this many keys in one interval they share one (an address scan must not grow the map without bound). */
  private readonly maxKeys: number;

  constructor(logger: Logger, intervalMs = 60_000, maxKeys = 10_000) {
    this.logger = logger;
    this.intervalMs = intervalMs;
    this.maxKeys = maxKeys;
  }

  log(event: string, key: string, fields: LogFields): void {
    let k = `${event}\u0000${key}`;
    if (!this.pending.has(k) && this.pending.size >= this.maxKeys) {
      k = `${event}\u0000*`;
      fields = { ...fields, client: 'many' };
    }
    const p = this.pending.get(k);
    if (p) {
      p.suppressed++;
      p.fields = fields;
      return;
    }
    this.logger.log(event, fields);
    this.pending.set(k, { fields, suppressed: 0 });
    this.arm(event, k);
  }

  private arm(event: string, k: string): void {
    setTimeout(() => {
      const p = this.pending.get(k);
      if (!p || p.suppressed === 0) {
        this.pending.delete(k);
        return;
      }
      this.logger.log(event, { ...p.fields, suppressed: p.suppressed, interval_s: this.intervalMs / 1000 });
      p.suppressed = 0;
      // Still busy: keep the key one more interval, so a steady flood stays at one line per interval.
      this.arm(event, k);
    }, this.intervalMs).unref();
  }
}
