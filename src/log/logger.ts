// One structured JSON line per event on stdout. Message events carry the
// queue id; decisions carry the rule that decided.

export type LogFields = Record<string, unknown>;

export interface Logger {
  log(event: string, fields?: LogFields): void;
}

export function jsonLogger(write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return {
    log(event, fields = {}) {
      write(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
    },
  };
}

/** A logger that keeps lines in memory (tests) or drops them. */
export function memoryLogger(): Logger & { lines: { event: string; fields: LogFields }[] } {
  const lines: { event: string; fields: LogFields }[] = [];
  return { lines, log: (event, fields = {}) => void lines.push({ event, fields }) };
}

/** A logger that also hands every event to listeners (statistics, the live log of the API). */
export interface TapLogger extends Logger {
  subscribe(listener: (event: string, fields: LogFields, ts: string) => void): () => void;
}

export function tapLogger(inner: Logger): TapLogger {
  const listeners = new Set<(event: string, fields: LogFields, ts: string) => void>();
  return {
    log(event, fields = {}) {
      inner.log(event, fields);
      if (listeners.size === 0) return;
      const ts = new Date().toISOString();
      for (const l of listeners) {
        try {
          l(event, fields, ts);
        } catch {
          // A broken listener must not break mail.
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
