// The impact preview as the API and the CLI run it: read the recorded RCPT
// decisions of the last N days (at most TUPLE_LIMIT distinct ones), look up
// the directory users among them, and replay them under the active revision
// and the candidate (impact.ts), in slices of a few milliseconds so that the
// daemon's SMTP sessions on the same event loop are never held up for long.
// No mail is sent; nothing is changed.

import type { Snapshot } from '../config/snapshot.ts';
import type { Directories } from '../directory/directories.ts';
import type { TrackingReader } from '../tracking/tracking-reader.ts';
import { lookUpLogins } from './identities.ts';
import { ImpactBuilder, type ImpactPreview } from './impact.ts';
import { directoryLogins } from './replay.ts';

export const DEFAULT_DAYS = 7;
export const MAX_DAYS = 90;
/** Distinct recorded decisions read at most: the most frequent first (truncated says when more existed). */
export const TUPLE_LIMIT = 20_000;
/** How long the directory look-ups may take in all. */
export const LOOKUP_MS = 5_000;
/** The replay yields to the event loop after this much work. */
const SLICE_MS = 8;
const DAY_MS = 86_400_000;

/** The tracking store did not answer (503 on the API, exit status 1 on the CLI). */
export class TrackingUnavailable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TrackingUnavailable';
  }
}

export interface PreviewDeps {
  /** The recorded decisions; asked for here, so that a store that cannot even be opened is TrackingUnavailable too. */
  tracking: () => TrackingReader;
  /** The directories to look up logins that are no local user; null: those decisions are not replayed. */
  directories: Directories | null;
  now?: () => number;
  limit?: number;
  lookupMs?: number;
}

/** A whole number of days in 1..MAX_DAYS, or why not. */
export function checkDays(days: number): string | null {
  return Number.isInteger(days) && days >= 1 && days <= MAX_DAYS ? null : `days must be a whole number from 1 to ${MAX_DAYS}`;
}

export async function previewImpact(active: Snapshot, candidate: Snapshot, days: number, deps: PreviewDeps): Promise<ImpactPreview> {
  const bad = checkDays(days);
  if (bad) throw new RangeError(bad);
  const now = deps.now ?? Date.now;
  const limit = deps.limit ?? TUPLE_LIMIT;
  const until = now();
  const since = until - days * DAY_MS;
  let read: Awaited<ReturnType<TrackingReader['decisions']>>;
  try {
    read = await deps.tracking().decisions(since, until, limit);
  } catch (err) {
    throw new TrackingUnavailable(`the tracking store did not answer: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const deadline = now() + (deps.lookupMs ?? LOOKUP_MS);
  const [forActive, forCandidate] = await Promise.all([
    lookUpLogins(active, directoryLogins(active, read.tuples), deps.directories, { deadline, now }),
    lookUpLogins(candidate, directoryLogins(candidate, read.tuples), deps.directories, { deadline, now }),
  ]);
  const builder = new ImpactBuilder({ active, candidate, directories: { active: forActive, candidate: forCandidate }, days, since, until, limit });
  let slice = performance.now();
  for (const t of read.tuples) {
    builder.add(t);
    if (performance.now() - slice > SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      slice = performance.now();
    }
  }
  return builder.finish(read.truncated);
}
