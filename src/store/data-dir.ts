// The data directory: where the embedded store (and later the spool) live.
// Created owner-only, since it holds password hashes and queued mail.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SqliteConfigStore } from './sqlite-config-store.ts';
import type { ConfigStore } from './config-store.ts';

export const DEFAULT_DATA_DIR = './data';

export function openConfigStore(dataDir: string, opts: { pollMs?: number } = {}): ConfigStore {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return new SqliteConfigStore(join(dir, 'mailwarden.db'), opts);
}
