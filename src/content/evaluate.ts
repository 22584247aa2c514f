// One message through the content rules: the rules that apply to its
// direction, the walk with just what they need, the hits and the decision.
// The check (src/checks/content-rules.ts), `mailwarden content test` and the
// API's test upload all ask this, so that what they say cannot drift apart.

import type { ContentSettings } from '../config/content-settings.ts';
import type { ContentHit, PartInfo } from './content-types.ts';
import { inspectMessage, type Inspection } from './inspect.ts';
import { BodyMatches, decide, matchRules, rulesFor, walkNeeds, type CompiledRule, type ContentDecision } from './match-rules.ts';

/** The rule name of the hit for a message whose MIME structure could not be read to the end (content.on_unreadable). */
export const UNREADABLE_RULE = 'on_unreadable';

/** The header field of the tag action. */
export const TAG_FIELD = 'X-Mailwarden-Content';

export interface Evaluation {
  readonly rules: readonly CompiledRule[];
  readonly inspection: Inspection;
  readonly decision: ContentDecision;
  /** Milliseconds the walk and the matching took. */
  readonly ms: number;
}

export interface EvaluateOptions {
  /** The client has a relay right (relayed rules apply) or not (inbound rules). */
  relayed: boolean;
  tmp?: string;
  /** Walk the message even with no rule for its direction (content test lists the parts anyway). */
  always?: boolean;
  /** The message's size: a one-part message whose body no rule needs is then read no further than its header (the check). */
  size?: number;
  /** The message's size, only to report it (and judge size_over) when the walk stops before the end (content test). */
  knownSize?: number;
}

/** null: no rule applies to this direction (and nothing was read), unless `always`. */
export async function evaluateMessage(settings: ContentSettings, source: AsyncIterable<Buffer>, o: EvaluateOptions): Promise<Evaluation | null> {
  const start = performance.now();
  const rules = rulesFor(settings, o.relayed);
  if (rules.length === 0 && !o.always) return null;
  const needs = walkNeeds(rules);
  const body = new BodyMatches(rules);
  const earlyEnd = o.size === undefined ? undefined : { size: o.size, needBody: (p: PartInfo) => (needs.text && p.mimeType.startsWith('text/')) || needs.partSize || (needs.archives && (p.filename !== null || !p.mimeType.startsWith('text/'))) };
  // Our own field, when a message comes with one, is removed (a sender cannot forge a verdict).
  const headers = [...needs.headers, TAG_FIELD.toLowerCase()];
  const inspection = await inspectMessage(source, { archives: needs.archives, limits: settings.archive, headers, onText: needs.text ? body.onText : null, ...(o.tmp ? { tmp: o.tmp } : {}), ...(earlyEnd ? { earlyEnd } : {}) });
  // The header and body expressions, in the worker thread, bounded in time (ExpressionTimeout past it).
  await body.run(inspection.headers);
  // A walk that stopped early has read only part of the message: its size is what the caller knows.
  const whole = o.size ?? o.knownSize;
  if (inspection.incomplete && whole !== undefined) inspection.size = whole;
  const hits = matchRules(rules, inspection, body, settings.archive.on_error);
  const unreadable = unreadableHit(settings, rules, inspection);
  if (unreadable) hits.push(unreadable);
  const decision = decide(hits, (i) => inspection.unstrippable.get(i) ?? null);
  return { rules, inspection, decision, ms: Math.round((performance.now() - start) * 100) / 100 };
}

/**
 * A message the walk could not read to the end (mailsplit's limits: more
 * than 1000 parts, nesting, a huge header) may hide a part past where it
 * stopped: when a rule looks at parts (files or text), content.on_unreadable
 * judges it, rather than a verdict on what was read.
 */
export function unreadableHit(settings: ContentSettings, rules: readonly CompiledRule[], x: Inspection): ContentHit | null {
  if (!x.incomplete || settings.on_unreadable === 'accept') return null;
  if (!rules.some((r) => r.partLevel || r.body !== null)) return null;
  return { rule: UNREADABLE_RULE, action: settings.on_unreadable, part: null, what: `its MIME structure could not be read to the end (${x.incomplete})` };
}
