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
