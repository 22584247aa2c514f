// Who the recorded logins that are no local user are, under one snapshot:
// each distinct directory login is looked up once (as AUTH would find it,
// without a password), a few at a time, within one deadline for all of them
// and at most MAX_LOOKUPS of them. A login that could not be asked (no
// directory client, the deadline passed, the directory did not answer, too
// many) is answered with why: its decisions are then "not replayed", never
// decided as if the user did not exist.

import type { Snapshot } from '../config/snapshot.ts';
import type { Directories } from '../directory/directories.ts';
import type { DirectoryAnswer } from './replay.ts';

/** At most this many distinct directory logins are looked up per snapshot. */
export const MAX_LOOKUPS = 100;
const CONCURRENCY = 4;

export interface LookupOptions {
  /** Epoch ms by which every lookup must have answered. */
  deadline: number;
  now?: () => number;
  max?: number;
}

export async function lookUpLogins(snap: Snapshot, logins: readonly string[], directories: Directories | null, opts: LookupOptions): Promise<Map<string, DirectoryAnswer>> {
  const out = new Map<string, DirectoryAnswer>();
  const now = opts.now ?? Date.now;
  const max = opts.max ?? MAX_LOOKUPS;
  if (!directories) {
    for (const l of logins) out.set(l, { error: 'no directory client to ask' });
    return out;
  }
  const asked = logins.slice(0, max);
  for (const l of logins.slice(max)) out.set(l, { error: `not looked up: more than ${max} distinct directory users` });
  let next = 0;
  const worker = async () => {
    while (next < asked.length) {
      const login = asked[next++] as string;
      const left = opts.deadline - now();
      if (left <= 0) {
        out.set(login, { error: 'not looked up: the time for directory look-ups ran out' });
        continue;
      }
      out.set(login, await withDeadline(directories.lookup(snap, login), left));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, asked.length) }, worker));
  return out;
}

async function withDeadline(p: Promise<DirectoryAnswerFound>, ms: number): Promise<DirectoryAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<DirectoryAnswer>((resolve) => {
    timer = setTimeout(() => resolve({ error: 'the directory did not answer in time' }), ms);
  });
  try {
    return await Promise.race([p.then((found): DirectoryAnswer => ({ found }), (err: unknown): DirectoryAnswer => ({ error: `the directory did not answer: ${err instanceof Error ? err.message : String(err)}` })), late]);
  } finally {
    clearTimeout(timer);
  }
}

type DirectoryAnswerFound = Extract<DirectoryAnswer, { found: unknown }>['found'];
