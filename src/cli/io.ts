// Small helpers shared by the CLI commands: exit statuses, reading secrets
// from stdin, printing findings, and opening the service for --data.

import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { formatFinding, type Finding } from '../config/issues.ts';
import { ConfigService, ServiceError } from '../admin/config-service.ts';
import { inlineChecker } from '../admin/checker.ts';
import { askDaemon } from '../queue/control.ts';
import { resolve } from 'node:path';
import { openEmbeddedStores } from '../store/embedded-stores.ts';
import { jsonLogger, type Logger } from '../log/logger.ts';
import { ConcurrentApplyError, type RevisionMeta } from '../store/config-store.ts';
import { parseSettingsText } from '../config/text.ts';

/** Exit statuses: 0 done/accepted, 1 refused/failed, 2 bad arguments. */
export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/** Thrown to end a command with a message and a status. */
export class CliExit extends Error {
  readonly status: number;
  readonly details: readonly Finding[];
  constructor(status: number, message: string, details: readonly Finding[] = []) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

/**
 * Opens the settings service of an installation for one command. A revision
 * the command applies is announced to a running daemon over its control
 * socket, and the command waits for its answer: the next connection to the
 * daemon uses it. (Without an answer, the daemon's poll of the store takes it
 * within a fraction of a second.)
 */
export async function withService<T>(dataDir: string, fn: (svc: ConfigService) => T | Promise<T>): Promise<T> {
  const dir = resolve(dataDir);
  const stores = await openEmbeddedStores(dir, cliLogger());
  const store = stores.config;
  const svc = new ConfigService(store, inlineChecker, {
    onApplied: async () => {
      await askDaemon(dir, { op: 'config-refresh', id: null }, DAEMON_REFRESH_MS).catch(() => null);
    },
  });
  try {
    return await fn(svc);
  } catch (err) {
    if (err instanceof ServiceError) throw new CliExit(EXIT_REFUSED, err.message, err.details);
    if (err instanceof ConcurrentApplyError) throw new CliExit(EXIT_REFUSED, err.message);
    throw err;
  } finally {
    await stores.close();
  }
}

/** Where the stores log what goes wrong for a CLI command: stderr, one JSON line per event. */
export function cliLogger(): Logger {
  return jsonLogger((l) => process.stderr.write(l));
}

/** How long an apply waits for the running daemon to take the new revision. */
const DAEMON_REFRESH_MS = 10_000;

export function meta(opts: { author?: string; comment?: string }, fallbackComment: string): RevisionMeta {
  let who = process.env.SUDO_USER ?? '';
  if (!who) {
    try {
      who = userInfo().username;
    } catch {
      who = 'unknown';
    }
  }
  return { author: opts.author ?? `cli:${who}`, comment: opts.comment ?? fallbackComment };
}

export function readPasswordFromStdin(): string {
  let text: string;
  try {
    text = readFileSync(0, 'utf8');
  } catch {
    throw new CliExit(EXIT_USAGE, 'could not read the password from stdin');
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line.length === 0) throw new CliExit(EXIT_USAGE, 'no password on stdin');
  return line;
}

/** Reads and parses a settings file; unreadable or unparsable → the given status. */
export function readSettingsFile(file: string, status = EXIT_REFUSED): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliExit(status, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const parsed = parseSettingsText(text);
  if (!parsed.ok) throw new CliExit(status, `${file} is not valid YAML or JSON`, parsed.errors);
  return parsed.value;
}

export function printFindings(errors: readonly Finding[], warnings: readonly Finding[]): void {
  for (const e of errors) process.stderr.write(`error: ${formatFinding(e)}\n`);
  for (const w of warnings) process.stderr.write(`warning: ${formatFinding(w)}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function parseRevisionNumber(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) throw new CliExit(EXIT_USAGE, `"${text}" is not a revision number`);
  return Number(text);
}
