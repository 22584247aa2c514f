// What the harness needs from each relay under test: start it in a fresh
// directory with a given next hop (the sink), know its process-tree roots (for
// CPU and RSS), and stop it, also when something went wrong.

export interface RelayInstance {
  /** SMTP port on 127.0.0.1 */
  readonly port: number;
  /** root pids of the relay's processes (the harness adds their descendants) */
  roots(): number[];
  /** the relay's own log, for error messages */
  readonly logFile: string;
  stop(): Promise<void>;
  /** a relay made of several parts (the cluster: nodes, HAProxy, database): their roots, for CPU split by part */
  parts?(): { name: string; roots: number[] }[];
  /** a relay with a database: what it did between two readings (WAL bytes, statements, commits) */
  db?: {
    reading(): Promise<import('../lib/postgres.ts').DbReading>;
    delta(a: import('../lib/postgres.ts').DbReading, b: import('../lib/postgres.ts').DbReading): Promise<import('../lib/postgres.ts').DbDelta>;
  };
}

export interface StartOptions {
  /** environment of every process of the relay (the slow-disk shim's LD_PRELOAD); default: the harness's own */
  env?: NodeJS.ProcessEnv;
}

export interface Relay {
  /** short id used in file names and the table */
  readonly id: string;
  /** label in the table */
  readonly label: string;
  /** the 50 MB and idle-connection figures are for mailwarden only */
  readonly isMailwarden: boolean;
  start(dir: string, sinkPort: number, opts?: StartOptions): Promise<RelayInstance>;
  /** how it is set up and started, for RESULTS.md */
  describe(): string[];
  version(): string;
}

/** Last lines of a log file, for an error message. */
export async function logTail(file: string, lines = 15): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    const text = await readFile(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}
