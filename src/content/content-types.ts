// The shared vocabulary of the content rules (issue 21): what the MIME walk
// reports about each part of a message, what a rule found in it, and what
// the strip action is asked to remove. The walk (inspect) and the stripper
// (strip) both number parts the same way, so that a part found by one is the
// part removed by the other.
//
// Part numbering: `index` is the 1-based position of a MIME node in the
// order @zone-eu/mailsplit's Splitter emits its 'node' objects for the
// message as stored (the root is 1; multipart containers count). The same
// octets always give the same numbering.

import type { ContentAction } from '../config/content-settings.ts';

/** One MIME part, as the walk saw it. */
export interface PartInfo {
  index: number;
  /** Lower case type/subtype, as declared (text/plain when absent). */
  mimeType: string;
  /** The decoded file name (Content-Disposition filename*, RFC 2231; name; RFC 2047), or null. */
  filename: string | null;
  /** Every decoded name, when the part carries more than one (Content-Disposition filename and Content-Type name differ; an archive entry's Unicode path and plain name); filename is the first. */
  names?: string[];
  /** Every extension of the file name, lower case, last first (invoice.pdf.exe → ['exe', 'pdf']). */
  extensions: string[];
  /** Decoded octets of the part's body (after Content-Transfer-Encoding). */
  size: number;
  /** Whether it is a multipart container (never stripped alone). */
  multipart: boolean;
  /** For a name found inside an archive: the archive chain, outermost first (["a.zip", "inner.zip"]). */
  inArchive?: string[];
}

/** One rule that matched, and where. */
export interface ContentHit {
  rule: string;
  action: ContentAction;
  /** The part it matched (null: the message as a whole: header, body text of the message, size). */
  part: PartInfo | null;
  /** What matched, for people: "extension exe in invoice.pdf.exe (inside docs.zip)". */
  what: string;
}

/** A part the strip action removes, and the line that says why in the notice. */
export interface StripPart {
  index: number;
  reason: string;
}
