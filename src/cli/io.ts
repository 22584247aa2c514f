// Small helpers shared by the CLI commands: exit statuses, reading secrets
// from stdin, printing findings, and opening the service for --data.

import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { formatFinding, type Finding } from '../config/issues.ts';
import { ConfigService, ServiceError } from '../admin/config-service.ts';
import { inlineChecker } from '../admin/checker.ts';
import { askDaemon } from '../queue/control.ts';
import { resolve } from 'node:path';
import { openStores, StoreError, storeUrlFrom } from '../store/open-stores.ts';
import type { Stores } from '../store/stores.ts';
import { hostname } from 'node:os';
import { jsonLogger, type Logger } from '../log/logger.ts';
import { ConcurrentApplyError, type RevisionMeta } from '../store/config-store.ts';
import { parseSettingsText } from '../config/text.ts';
import { excerpt, parseErrorPositions } from './parse-excerpt.ts';
import { labelFindings } from './finding-labels.ts';

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

let storeFlag: () => string | undefined = () => undefined;

/** main.ts hands over how to read the global --store option. */
export function setStoreOption(read: () => string | undefined): void {
  storeFlag = read;
}

/** The cluster store's URL for this command (--store, else MAILWARDEN_STORE), or undefined for the embedded store. */
export function storeUrl(): string | undefined {
  return storeUrlFrom(storeFlag());
}

/** The name the CLI's own claims carry (a queue change made from this machine), as the QueueError of another command shows it. */
export function cliNodeName(): string {
  return `cli@${hostname()}`;
}

/** Opens the stores this command works on: the cluster store with --store/MAILWARDEN_STORE, else the data directory's. */
export async function openCliStores(dataDir: string): Promise<Stores> {
  // A command's stderr is for what went wrong: the store's "opened" line is the daemon's.
  const base = cliLogger();
  const logger: Logger = { ...base, log: (event, fields) => (event === 'store.opened' ? undefined : base.log(event, fields)) };
  try {
    return await openStores({ dataDir: resolve(dataDir), url: storeUrl(), node: cliNodeName(), logger });
  } catch (err) {
    if (err instanceof StoreError) throw new CliExit(EXIT_REFUSED, err.message);
    throw err;
  }
}

/**
 * Opens the settings service of an installation for one command. On the
 * embedded store, a revision the command applies is announced to a running
 * daemon over its control socket, and the command waits for its answer: the
 * next connection to the daemon uses it. (Without an answer, the daemon's
 * poll of the store takes it within a fraction of a second.) On the cluster
 * store every node hears of it from the store (LISTEN/NOTIFY): no poke.
 */
export async function withService<T>(dataDir: string, fn: (svc: ConfigService) => T | Promise<T>): Promise<T> {
  const dir = resolve(dataDir);
  const stores = await openCliStores(dir);
  const store = stores.config;
  const svc = new ConfigService(store, inlineChecker, {
    onApplied: async () => {
      if (stores.kind === 'embedded') await askDaemon(dir, { op: 'config-refresh', id: null }, DAEMON_REFRESH_MS).catch(() => null);
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
  if (!parsed.ok) {
    const where = parseErrorPositions(text);
    const details = where.length > 0 ? where.map((p) => ({ path: `${file}:${p.line}:${p.col}`, message: `${p.message}\n${excerpt(text, p.line, p.col)}` })) : parsed.errors;
    throw new CliExit(status, `${file} is not valid YAML or JSON`, details);
  }
  return parsed.value;
}

/** Prints findings to stderr; with `doc`, the document they are about, each path also names the objects on it. */
export function printFindings(errors: readonly Finding[], warnings: readonly Finding[], doc?: unknown): void {
  const label = (fs: readonly Finding[]) => (doc === undefined ? fs : labelFindings(fs, doc));
  for (const e of label(errors)) process.stderr.write(`error: ${formatFinding(e)}\n`);
  for (const w of label(warnings)) process.stderr.write(`warning: ${formatFinding(w)}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function parseRevisionNumber(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text)) throw new CliExit(EXIT_USAGE, `"${text}" is not a revision number`);
  return Number(text);
}
