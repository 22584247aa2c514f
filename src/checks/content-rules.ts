// The content rules (src/content, docs/content.md) at the end of DATA:
// attachment and content filters on the message as spooled, read after the
// client's "." through the writer's contents() (the spool file, still in the
// page cache) rather than watched as it arrives, so that a message refused
// by an earlier check, or one no rule applies to, costs no MIME walk. After
// DMARC and before the content scan: a blocked attachment costs no spam
// engine. The rules apply by direction: inbound (the client has no relay
// right) or relayed (it has one).

import { MailError } from '../core/mail-error.ts';
import { evaluateMessage, TAG_FIELD, UNREADABLE_RULE, type Evaluation } from '../content/evaluate.ts';
import { ARCHIVE_ERROR_RULE, hitsForLog, rulesFor } from '../content/match-rules.ts';
import { ExpressionTimeout } from '../content/expression-match.ts';
import { stripRewrite } from '../content/strip-rewrite.ts';
import { printable } from '../content/file-names.ts';
import type { ContentHit } from '../content/content-types.ts';
import { EVERYONE, PASS, type Check, type Fields, type Verdict } from './check.ts';

/** The rule a verdict names: content.rules[NAME], content.archive.on_error or content.on_unreadable. */
export function ruleSetting(hit: ContentHit): string {
  if (hit.rule === UNREADABLE_RULE) return 'content.on_unreadable';
  return hit.rule === ARCHIVE_ERROR_RULE ? 'content.archive.on_error' : `content.rules[${hit.rule}]`;
}

/** The `content: {...}` of the message's log line: the action and the hits, bounded. */
export function contentLog(e: Evaluation): Fields {
  const d = e.decision;
  const x = e.inspection;
  return {
    action: d.action,
    ...(d.hits.length ? { hits: hitsForLog(d.hits), ...(d.hits.length > 10 ? { more_hits: d.hits.length - 10 } : {}) } : {}),
    ...(d.action === 'quarantine' && d.instead ? { instead_of_strip: d.instead } : {}),
    ...(d.action === 'strip' ? { stripped: d.parts.map((p) => p.index) } : {}),
    parts: x.parts.length,
    ...(x.entries.length ? { archive_names: x.entries.length } : {}),
    ...(x.archiveProblems.length ? { archive_errors: x.archiveProblems.slice(0, 5).map((p) => `${p.chain.map((n) => printable(n, 60)).join(' › ')}: ${p.reason}`) } : {}),
    ...(x.incomplete ? { incomplete: x.incomplete } : {}),
    ms: e.ms,
  };
}

export function contentVerdict(e: Evaluation, hostname: string, subjectTag: string | null): Verdict {
  const d = e.decision;
  const log = { content: contentLog(e) };
  // A field of ours that came with the message is removed, whatever the verdict (an edit only when there is one).
  const forged = (e.inspection.headers.get(TAG_FIELD.toLowerCase())?.length ?? 0) > 0;
  const scrub = forged ? { edit: { add: [], remove: [TAG_FIELD], subjectTag: null } } : {};
  switch (d.action) {
    case 'accept':
      return { kind: 'pass', log, ...scrub };
    case 'reject': {
      const h = d.decisive;
      // The reply names the rule, never its expressions or what they matched (the log line has those).
      const file = h.part !== null && (h.rule === ARCHIVE_ERROR_RULE || e.rules.some((r) => r.rule.name === h.rule && r.partLevel));
      const text =
        h.rule === UNREADABLE_RULE
          ? 'Message refused: its MIME structure could not be read to the end'
          : file
            ? `Message refused: attachment "${replySafe(attachmentName(h))}" is not allowed (content rule ${h.rule})`
            : `Message refused by the content policy (content rule ${h.rule})`;
      return { kind: 'refuse', error: new MailError(550, '5.7.1', text, { rule: ruleSetting(h), reason: `${h.rule}: ${h.what}` }), log };
    }
    case 'quarantine': {
      const h = d.decisive;
      return { kind: 'quarantine', rule: `content:${h.rule}`, reason: `${h.what}${d.instead ? ` (${d.instead})` : ''}`, log };
    }
    case 'strip':
      return { kind: 'pass', rewrite: stripRewrite(d.parts, hostname), log, ...scrub };
    case 'tag':
      return { kind: 'pass', edit: { add: d.fields, remove: [TAG_FIELD], subjectTag }, log };
  }
}

/** The attachment a hit is about: the attached file (the archive, for a name inside one), or its part number. */
function attachmentName(h: ContentHit): string {
  const p = h.part!;
  return p.inArchive?.[0] ?? p.filename ?? `part ${p.index}`;
}

/** A name for the client's reply: printable ASCII without quotes, bounded (a reply line is at most 512 octets). */
function replySafe(s: string): string {
  const ascii = s.normalize('NFKD').replace(/\p{M}/gu, '').replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '?');
  return ascii.length > 100 ? `${ascii.slice(0, 99)}~` : ascii;
}

/** An expression ran past its time bound: 451, fail closed, the rule named in the log only. */
function timeoutVerdict(err: ExpressionTimeout): Verdict {
  return {
    kind: 'refuse',
    error: new MailError(451, '4.7.1', 'Message could not be checked by the content policy, try again later', { rule: 'content.expression_timeout', reason: `${err.rule}: header/body expression ran over ${err.ms} ms` }),
    log: { content: { action: 'expression_timeout', rule: err.rule, ms: err.ms } },
  };
}

export const contentRules: Check = {
  name: 'content',
  // Off, or no rule at all: the check is not asked (it costs nothing).
  enabled: (snap) => snap.settings.content.enabled && snap.settings.content.rules.length > 0,
  data: {
    who: EVERYONE,
    async run(s, x): Promise<Verdict> {
      const settings = s.snap.settings.content;
      const relayed = s.relayRight.right !== null;
      if (rulesFor(settings, relayed).length === 0) return PASS;
      const message = await x.contents();
      let e: Evaluation | null;
      try {
        e = await evaluateMessage(settings, message.chunks(), { relayed, size: message.size });
      } catch (err) {
        if (err instanceof ExpressionTimeout) return timeoutVerdict(err);
        throw err;
      }
      if (!e) return PASS;
      return contentVerdict(e, s.snap.settings.hostname, settings.subject_tag);
    },
  },
};
