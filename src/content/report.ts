// What `mailwarden content test` and POST /api/content/test answer for one
// message: every part (index, type, file name, size, the names inside its
// archives), which rule matched which part, and the resulting action, as
// the daemon would decide it for that direction. One shape for both (the
// CLI's --json is the API's body).

import type { ContentHit, PartInfo } from './content-types.ts';
import type { Evaluation } from './evaluate.ts';
import { printable } from './file-names.ts';

export interface ReportHit {
  rule: string;
  action: string;
  what: string;
}

export interface ReportPart {
  index: number;
  type: string;
  filename: string | null;
  size: number;
  multipart: boolean;
  /** The names inside this part's zip archives (nested ones with their chain). */
  archive: { name: string; size: number; in: string[]; hits: ReportHit[] }[];
  hits: ReportHit[];
}

export interface ContentReport {
  /** accept (nothing matched), reject, quarantine, strip or tag. */
  action: string;
  /** The rule that decided, or null. */
  rule: string | null;
  /** Why, in words (also why a strip became a quarantine). */
  reason: string | null;
  direction: 'inbound' | 'relayed';
  /** The rules that apply to this direction, in order. */
  rules: string[];
  size: number;
  parts: ReportPart[];
  /** Hits on the message as a whole (header, size), not on a part. */
  message_hits: ReportHit[];
  /** Parts the strip action would remove. */
  stripped: number[];
  /** The header fields the tag action would add. */
  tag_fields: string[];
  archive_errors: { part: number; archive: string[]; reason: string }[];
  /** Why the walk stopped before the end, or null. */
  incomplete: string | null;
  /** Parts and archive names beyond these limits are counted, not listed. */
  truncated: boolean;
}

const MAX_PARTS = 1000;
const MAX_NAMES = 2000;

function hitOf(h: ContentHit): ReportHit {
  return { rule: h.rule, action: h.action, what: printable(h.what, 300) };
}

export function contentReport(e: Evaluation, relayed: boolean): ContentReport {
  const d = e.decision;
  const x = e.inspection;
  const onPart = new Map<number, ReportHit[]>();
  const onEntry = new Map<PartInfo, ReportHit[]>();
  const message: ReportHit[] = [];
  for (const h of d.hits) {
    if (!h.part) message.push(hitOf(h));
    else if (h.part.inArchive) onEntry.set(h.part, [...(onEntry.get(h.part) ?? []), hitOf(h)]);
    else onPart.set(h.part.index, [...(onPart.get(h.part.index) ?? []), hitOf(h)]);
  }
  // A hit on an archive that could not be read is on the part that holds it (on_error).
  const parts: ReportPart[] = x.parts.slice(0, MAX_PARTS).map((p) => ({ index: p.index, type: p.mimeType, filename: p.filename, size: p.size, multipart: p.multipart, archive: [], hits: onPart.get(p.index) ?? [] }));
  const byIndex = new Map(parts.map((p) => [p.index, p]));
  for (const en of x.entries.slice(0, MAX_NAMES)) {
    byIndex.get(en.index)?.archive.push({ name: en.filename ?? '', size: en.size, in: en.inArchive ?? [], hits: onEntry.get(en) ?? [] });
  }
  const decisive = d.action === 'accept' ? null : d.decisive;
  return {
    action: d.action,
    rule: decisive ? decisive.rule : null,
    reason: decisive ? `${printable(decisive.what, 300)}${d.action === 'quarantine' && d.instead ? ` (${d.instead})` : ''}` : null,
    direction: relayed ? 'relayed' : 'inbound',
    rules: e.rules.map((r) => r.rule.name),
    size: x.size,
    parts,
    message_hits: message,
    stripped: d.action === 'strip' ? d.parts.map((p) => p.index) : [],
    tag_fields: d.action === 'tag' ? d.fields : [],
    archive_errors: x.archiveProblems.slice(0, 100).map((p) => ({ part: p.index, archive: p.chain.map((n) => printable(n, 120)), reason: p.reason })),
    incomplete: x.incomplete,
    truncated: x.parts.length > MAX_PARTS || x.entries.length > MAX_NAMES,
  };
}

/** The report as lines for a terminal. */
export function reportText(r: ContentReport): string {
  const out: string[] = [];
  const hit = (h: ReportHit) => `${h.rule} (${h.action}): ${h.what}`;
  out.push(r.action === 'accept' ? 'accept: no rule matched' : `${r.action}: rule ${r.rule}: ${r.reason}`);
  out.push(`  ${r.direction}, ${r.size} octets, ${r.parts.length} part${r.parts.length === 1 ? '' : 's'}; rules for ${r.direction} mail: ${r.rules.length ? r.rules.join(', ') : 'none'}`);
  for (const p of r.parts) {
    out.push(`  ${String(p.index).padStart(3)}  ${p.type}${p.filename !== null ? `  "${p.filename}"` : ''}${p.multipart ? '' : `  ${p.size} octets`}`);
    for (const h of p.hits) out.push(`         matched ${hit(h)}`);
    for (const a of p.archive) {
      out.push(`         in ${a.in.join(' › ')}: "${a.name}"  ${a.size} octets`);
      for (const h of a.hits) out.push(`           matched ${hit(h)}`);
    }
  }
  for (const h of r.message_hits) out.push(`  message matched ${hit(h)}`);
  if (r.stripped.length) out.push(`  strip would remove part${r.stripped.length === 1 ? '' : 's'} ${r.stripped.join(', ')}`);
  for (const f of r.tag_fields) out.push(`  tag would add: ${f}`);
  for (const a of r.archive_errors) out.push(`  archive not read (part ${a.part}, ${a.archive.join(' › ')}): ${a.reason}`);
  if (r.incomplete) out.push(`  the message could not be read to the end: ${r.incomplete}`);
  if (r.truncated) out.push('  (more parts or archive names than listed)');
  return out.join('\n') + '\n';
}
