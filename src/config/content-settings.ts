// The content rules' settings (issue 21, docs/content.md): attachment and
// content filters asked at the end of DATA by src/checks/content-rules.ts.
// Types and defaults here; readContent() reads the untrusted document.
// A document without a `content` key gets the default rules (a new
// installation quarantines the executable attachments a gateway blocks).

import type { Reader } from './reader.ts';

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
}

/** The executable extensions a gateway blocks (docs/content.md). */
export const EXECUTABLE_EXTENSIONS = [
  'exe', 'scr', 'com', 'pif', 'bat', 'cmd', 'js', 'jse', 'vbs', 'vbe', 'wsf', 'wsh', 'jar', 'msi', 'msp', 'lnk',
  'iso', 'img', 'vhd', 'vhdx', 'hta', 'ps1', 'psm1', 'cpl', 'reg', 'scf', 'dll', 'application', 'gadget', 'msc', 'appx', 'msix',
] as const;

export function defaultArchiveLimits(): ArchiveLimits {
  return { max_depth: 3, max_size: 26_214_400, max_expanded: 104_857_600, max_entries: 10_000, on_error: 'accept' };
}

export function defaultContent(): ContentSettings {
  return {
    enabled: true,
    rules: [{ name: 'executables', match: { extension: [...EXECUTABLE_EXTENSIONS], archive: true }, direction: 'both', action: 'quarantine', comment: 'executable attachments, also inside zip archives' }],
    archive: defaultArchiveLimits(),
  };
}

/** Reads `content` (absent: the defaults). Filled in by the content-rules work. */
export function readContent(_r: Reader, v: unknown): ContentSettings {
  void v;
  return defaultContent();
}
