// One message through the content rules: the rules that apply to its
// direction, the walk with just what they need, the hits and the decision.
// The check (src/checks/content-rules.ts), `mailwarden content test` and the
// API's test upload all ask this, so that what they say cannot drift apart.

import type { ContentSettings } from '../config/content-settings.ts';
import type { PartInfo } from './content-types.ts';
import { inspectMessage, type Inspection } from './inspect.ts';
import { BodyMatches, decide, matchRules, rulesFor, walkNeeds, type CompiledRule, type ContentDecision } from './match-rules.ts';

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
  const decision = decide(matchRules(rules, inspection, body, settings.archive.on_error), (i) => inspection.unstrippable.get(i) ?? null);
  return { rules, inspection, decision, ms: Math.round((performance.now() - start) * 100) / 100 };
}
