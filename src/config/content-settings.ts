// The content rules' settings (issue 21, docs/content.md): attachment and
// content filters asked at the end of DATA by src/checks/content-rules.ts.
// Types and defaults here; readContent() reads the untrusted document.
// A document without a `content` key gets the default rules (a new
// installation quarantines the executable attachments a gateway blocks).

import { at } from './issues.ts';
import type { Obj, Reader } from './reader.ts';
import { compileRuleRegex } from '../content/rule-regex.ts';

export const CONTENT_ACTIONS = ['reject', 'quarantine', 'strip', 'tag'] as const;
export type ContentAction = (typeof CONTENT_ACTIONS)[number];
export const CONTENT_DIRECTIONS = ['inbound', 'relayed', 'both'] as const;
export type ContentDirection = (typeof CONTENT_DIRECTIONS)[number];

/** What a rule looks for; every key given must match (AND); a rule with no key is invalid. */
export interface ContentMatch {
  /** File name extensions without the dot, lower case; any extension of a double one counts (invoice.pdf.exe). */
  extension?: string[];
  /** MIME types (type/subtype, or type/* ), lower case. */
  mime_type?: string[];
  /** A regular expression on the decoded file name (RFC 2231 / RFC 2047 decoded). */
  filename?: string;
  /** Also look at the names inside zip archives (nested ones too, within content.archive limits). */
  archive?: true;
  /** A header field whose (decoded) value matches. */
  header?: { name: string; regex: string };
  /** A regular expression on the decoded text parts. */
  body?: string;
  /** A part (or, with no part-level key, the message) larger than this many octets. */
  size_over?: number;
}

export interface ContentRule {
  name: string;
  match: ContentMatch;
  direction: ContentDirection;
  action: ContentAction;
  comment?: string;
}

/** Limits of the archive walk, against zip bombs. */
export interface ArchiveLimits {
  /** How deep nested archives are opened (1: names in the outer zip only). */
  max_depth: number;
  /** Octets of one archive (as attached) that are read at all; larger ones are judged by archive_error. */
  max_size: number;
  /** Octets inflated in total per message, across every nested archive. */
  max_expanded: number;
  /** Entries listed in total per message. */
  max_entries: number;
  /** What an archive we could not read to the end (limits, damage, encryption) gets. */
  on_error: 'accept' | 'quarantine' | 'reject';
}

export interface ContentSettings {
  enabled: boolean;
  rules: ContentRule[];
  archive: ArchiveLimits;
  /** Put before the Subject of a message a `tag` rule matched (e.g. "[content]"); null: the header field only. */
  subject_tag: string | null;
  /** What a message gets whose MIME structure the walk could not read to the end, when a rule looks at parts. */
  on_unreadable: 'accept' | 'quarantine' | 'reject';
}

/** The executable extensions a gateway blocks (docs/content.md). */
export const EXECUTABLE_EXTENSIONS = [
  'exe', 'scr', 'com', 'pif', 'bat', 'cmd', 'js', 'jse', 'vbs', 'vbe', 'wsf', 'wsh', 'jar', 'msi', 'msp', 'lnk',
  'iso', 'img', 'vhd', 'vhdx', 'hta', 'ps1', 'psm1', 'cpl', 'reg', 'scf', 'dll', 'application', 'gadget', 'msc', 'appx', 'msix',
] as const;

export function defaultArchiveLimits(): ArchiveLimits {
  return { max_depth: 3, max_size: 26_214_400, max_expanded: 104_857_600, max_entries: 10_000, on_error: 'quarantine' };
}

export function defaultContent(): ContentSettings {
  return {
    enabled: true,
    rules: [{ name: 'executables', match: { extension: [...EXECUTABLE_EXTENSIONS], archive: true }, direction: 'both', action: 'quarantine', comment: 'executable attachments, also inside zip archives' }],
    archive: defaultArchiveLimits(),
    subject_tag: null,
    on_unreadable: 'quarantine',
  };
}

export const MAX_CONTENT_RULES = 200;
const RULE_KEYS = ['name', 'match', 'direction', 'action', 'comment'] as const;
const MATCH_KEYS = ['extension', 'mime_type', 'filename', 'archive', 'header', 'body', 'size_over'] as const;
const ARCHIVE_KEYS = ['max_depth', 'max_size', 'max_expanded', 'max_entries', 'on_error'] as const;
/** A rule name goes into log lines, a header field and `content.rules[NAME]`: a plain token. */
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const EXTENSION = /^[a-z0-9_$~!#&+-]{1,32}$/;
const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$/;
const FIELD_NAME = /^[!-9;-~]{1,76}$/;

/** Reads `content` (absent: the defaults, the executables rule); every problem a finding with its path. */
export function readContent(r: Reader, v: unknown): ContentSettings {
  const d = defaultContent();
  if (v === undefined) return d;
  const o = r.object('content', v, ['enabled', 'rules', 'archive', 'subject_tag', 'on_unreadable']);
  if (!o) return d;
  const rules = o.rules === undefined ? d.rules : readRules(r, o.rules);
  const da = defaultArchiveLimits();
  const a = r.object('content.archive', o.archive, ARCHIVE_KEYS) ?? {};
  const archive: ArchiveLimits = {
    max_depth: r.int('content.archive.max_depth', a.max_depth, da.max_depth, 1, 10),
    max_size: r.int('content.archive.max_size', a.max_size, da.max_size, 1024, 1_073_741_824),
    max_expanded: r.int('content.archive.max_expanded', a.max_expanded, da.max_expanded, 1024, 4_294_967_296),
    max_entries: r.int('content.archive.max_entries', a.max_entries, da.max_entries, 1, 100_000),
    on_error: r.oneOf('content.archive.on_error', a.on_error, ['accept', 'quarantine', 'reject'] as const, da.on_error) ?? da.on_error,
  };
  let subject_tag: string | null = null;
  if (o.subject_tag !== undefined && o.subject_tag !== null) {
    const t = r.string('content.subject_tag', o.subject_tag, { required: true, max: 64 });
    if (t !== undefined && /[\x00-\x1f\x7f]/.test(t)) r.f.error('content.subject_tag', 'must not hold control characters');
    else if (t !== undefined) subject_tag = t;
  }
  const on_unreadable = r.oneOf('content.on_unreadable', o.on_unreadable, ['accept', 'quarantine', 'reject'] as const, d.on_unreadable) ?? d.on_unreadable;
  return { enabled: r.bool('content.enabled', o.enabled, d.enabled), rules, archive, subject_tag, on_unreadable };
}

function readRules(r: Reader, v: unknown): ContentRule[] {
  if (Array.isArray(v) && v.length > MAX_CONTENT_RULES) {
    r.f.error('content.rules', `at most ${MAX_CONTENT_RULES} rules, got ${v.length}`);
    return [];
  }
  const seen = new Map<string, string>();
  return r.list('content.rules', v, (p, item) => {
    const o = r.object(p, item, RULE_KEYS);
    if (!o) return undefined;
    const name = r.string(at(p, 'name'), o.name, { required: true, max: 64 });
    if (name !== undefined && !RULE_NAME.test(name)) r.f.error(at(p, 'name'), `"${name}" is not a rule name: letters, digits, "_", "." and "-", starting with a letter or digit`);
    else if (name !== undefined) {
      const lower = name.toLowerCase();
      const first = seen.get(lower);
      if (first !== undefined) r.f.error(at(p, 'name'), `duplicate rule name "${name}" (also ${first}); names must be unique`);
      else seen.set(lower, p);
    }
    const match = readMatch(r, at(p, 'match'), o.match);
    const direction = r.oneOf(at(p, 'direction'), o.direction, CONTENT_DIRECTIONS, 'both');
    const action = r.oneOf(at(p, 'action'), o.action, CONTENT_ACTIONS);
    const comment = r.string(at(p, 'comment'), o.comment, { max: 256 });
    // A rule with a finding is still returned (the findings block the apply): the diff and the
    // web admin's error labels name it by its name rather than see it vanish.
    if (name === undefined) return undefined;
    const rule: ContentRule = { name, match: match ?? {}, direction: direction ?? 'both', action: action ?? 'quarantine' };
    if (comment !== undefined && comment !== '') rule.comment = comment;
    return rule;
  });
}

function readMatch(r: Reader, p: string, v: unknown): ContentMatch | null {
  if (v === undefined || v === null) {
    r.f.error(p, 'is required: what the rule looks for (extension, mime_type, filename, header, body, size_over)');
    return null;
  }
  const o: Obj | null = r.object(p, v, MATCH_KEYS);
  if (!o) return null;
  const m: ContentMatch = {};
  let ok = true;
  const fail = (path: string, msg: string) => {
    r.f.error(path, msg);
    ok = false;
  };
  if (o.extension !== undefined) {
    const list = words(r, at(p, 'extension'), o.extension, (s) => s.replace(/^\.+/, '').toLowerCase(), EXTENSION, 'an extension without dots (exe, not .exe or tar.gz)');
    if (list === null) ok = false;
    else m.extension = list;
  }
  if (o.mime_type !== undefined) {
    const list = words(r, at(p, 'mime_type'), o.mime_type, (s) => s.trim().toLowerCase(), MIME_TYPE, 'a MIME type: type/subtype or type/*');
    if (list === null) ok = false;
    else m.mime_type = list;
  }
  const regex = (path: string, value: unknown): string | undefined => {
    const s = r.string(path, value, { required: true, max: 1024 });
    if (s === undefined) {
      ok = false;
      return undefined;
    }
    const c = compileRuleRegex(s);
    if ('error' in c) fail(path, `${c.error} (rule expressions are case-insensitive)`);
    return s;
  };
  if (o.filename !== undefined) {
    const s = regex(at(p, 'filename'), o.filename);
    if (s !== undefined) m.filename = s;
  }
  if (o.body !== undefined) {
    const s = regex(at(p, 'body'), o.body);
    if (s !== undefined) m.body = s;
  }
  if (o.header !== undefined) {
    const hp = at(p, 'header');
    const h = r.object(hp, o.header, ['name', 'regex']);
    if (!h) ok = false;
    else {
      const name = r.string(at(hp, 'name'), h.name, { required: true, max: 76 });
      if (name !== undefined && !FIELD_NAME.test(name)) fail(at(hp, 'name'), `"${name}" is not a header field name`);
      const re = regex(at(hp, 'regex'), h.regex);
      if (name !== undefined && FIELD_NAME.test(name) && re !== undefined) m.header = { name, regex: re };
      else ok = false;
    }
  }
  if (o.size_over !== undefined) {
    if (typeof o.size_over !== 'number' || !Number.isInteger(o.size_over) || o.size_over <= 0) fail(at(p, 'size_over'), `must be a whole number of octets more than 0, got ${JSON.stringify(o.size_over)}`);
    else m.size_over = o.size_over;
  }
  if (o.archive !== undefined) {
    if (o.archive !== true && o.archive !== false) fail(at(p, 'archive'), `expected true or false, got ${JSON.stringify(o.archive)}`);
    else if (o.archive) {
      if (m.extension === undefined && m.filename === undefined && m.size_over === undefined && ok) fail(at(p, 'archive'), 'archive: true widens extension, filename or size_over to the names inside zip archives: give one of them');
      else m.archive = true;
    }
  }
  if (ok && Object.keys(m).length === 0) fail(p, 'an empty match matches nothing: give extension, mime_type, filename, header, body or size_over');
  // With a finding, what could be read (the apply is refused anyway).
  return m;
}

/** A non-empty list of short strings, normalised, each of the given form. */
function words(r: Reader, p: string, v: unknown, norm: (s: string) => string, form: RegExp, what: string): string[] | null {
  if (!Array.isArray(v)) {
    r.f.error(p, `expected a list, got ${typeof v}`);
    return null;
  }
  if (v.length === 0) {
    r.f.error(p, 'an empty list matches nothing: remove the key or give at least one');
    return null;
  }
  if (v.length > 500) {
    r.f.error(p, `at most 500 entries, got ${v.length}`);
    return null;
  }
  const out = new Set<string>();
  let ok = true;
  v.forEach((item, i) => {
    const s = typeof item === 'string' ? norm(item) : null;
    if (s === null || !form.test(s)) {
      r.f.error(at(p, i), `${JSON.stringify(item)} is not ${what}`);
      ok = false;
    } else out.add(s);
  });
  return ok ? [...out] : null;
}
