// The content rules as the web admin edits them (docs/content.md): the
// settings' shapes, the form's text fields turned into a rule and back, and
// the report of POST /api/content/test. Pure, so that it can be tested
// without a browser.

export type ContentAction = 'reject' | 'quarantine' | 'strip' | 'tag';
export type ContentDirection = 'inbound' | 'relayed' | 'both';

export interface ContentMatch {
  extension?: string[];
  mime_type?: string[];
  filename?: string;
  archive?: true;
  header?: { name: string; regex: string };
  body?: string;
  size_over?: number;
}

export interface ContentRule {
  name: string;
  match: ContentMatch;
  direction: ContentDirection;
  action: ContentAction;
  comment?: string;
}

export interface ArchiveLimits {
  max_depth: number;
  max_size: number;
  max_expanded: number;
  max_entries: number;
  on_error: 'accept' | 'quarantine' | 'reject';
}

export interface ContentSettings {
  enabled: boolean;
  rules: ContentRule[];
  archive: ArchiveLimits;
  subject_tag: string | null;
}

/** The rule form: every match key as text, as typed. */
export interface RuleForm {
  name: string;
  extensions: string;
  mimeTypes: string;
  filename: string;
  archive: boolean;
  headerName: string;
  headerRegex: string;
  body: string;
  sizeOver: number | null;
  direction: ContentDirection;
  action: ContentAction;
  comment: string;
}

export function blankForm(): RuleForm {
  return { name: '', extensions: '', mimeTypes: '', filename: '', archive: false, headerName: '', headerRegex: '', body: '', sizeOver: null, direction: 'both', action: 'quarantine', comment: '' };
}

const list = (s: string): string[] =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** The form as a rule: empty fields left out (the server judges the rest). */
export function ruleOf(f: RuleForm): ContentRule {
  const match: ContentMatch = {};
  if (f.extensions.trim()) match.extension = list(f.extensions).map((x) => x.replace(/^\.+/, '').toLowerCase());
  if (f.mimeTypes.trim()) match.mime_type = list(f.mimeTypes).map((x) => x.toLowerCase());
  if (f.filename.trim()) match.filename = f.filename.trim();
  if (f.archive) match.archive = true;
  if (f.headerName.trim() || f.headerRegex.trim()) match.header = { name: f.headerName.trim(), regex: f.headerRegex.trim() };
  if (f.body.trim()) match.body = f.body.trim();
  if (f.sizeOver !== null) match.size_over = f.sizeOver;
  const rule: ContentRule = { name: f.name.trim(), match, direction: f.direction, action: f.action };
  if (f.comment.trim()) rule.comment = f.comment.trim();
  return rule;
}

export function formOf(r: ContentRule): RuleForm {
  const m = r.match;
  return {
    name: r.name,
    extensions: (m.extension ?? []).join(', '),
    mimeTypes: (m.mime_type ?? []).join(', '),
    filename: m.filename ?? '',
    archive: m.archive === true,
    headerName: m.header?.name ?? '',
    headerRegex: m.header?.regex ?? '',
    body: m.body ?? '',
    sizeOver: m.size_over ?? null,
    direction: r.direction,
    action: r.action,
    comment: r.comment ?? '',
  };
}

/** One line for the rules table: what the rule looks for. */
export function describeMatch(m: ContentMatch): string {
  const out: string[] = [];
  if (m.extension) out.push(`extension ${m.extension.length > 8 ? `${m.extension.slice(0, 8).join(', ')} … (${m.extension.length})` : m.extension.join(', ')}`);
  if (m.mime_type) out.push(`type ${m.mime_type.join(', ')}`);
  if (m.filename) out.push(`name /${m.filename}/`);
  if (m.size_over !== undefined) out.push(`over ${m.size_over} octets`);
  if (m.header) out.push(`${m.header.name} /${m.header.regex}/`);
  if (m.body) out.push(`text /${m.body}/`);
  if (m.archive) out.push('also inside zip archives');
  return out.join('; ');
}

/** Moves entry i by d places (reordering the rules). */
export function moved<T>(xs: readonly T[], i: number, d: -1 | 1): T[] {
  const j = i + d;
  if (j < 0 || j >= xs.length) return [...xs];
  const out = [...xs];
  [out[i], out[j]] = [out[j]!, out[i]!];
  return out;
}

export interface ReportHit {
  rule: string;
  action: string;
  what: string;
}

export interface ContentReport {
  action: string;
  rule: string | null;
  reason: string | null;
  direction: 'inbound' | 'relayed';
  rules: string[];
  size: number;
  parts: { index: number; type: string; filename: string | null; size: number; multipart: boolean; archive: { name: string; size: number; in: string[]; hits: ReportHit[] }[]; hits: ReportHit[] }[];
  message_hits: ReportHit[];
  stripped: number[];
  tag_fields: string[];
  archive_errors: { part: number; archive: string[]; reason: string }[];
  incomplete: string | null;
  truncated: boolean;
  enabled: boolean;
  revision: number;
}
