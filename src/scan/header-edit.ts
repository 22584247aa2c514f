// Edits the header section of a stored message: removes fields by name (with
// their continuation lines), puts a marker before the Subject and adds fields
// at the top. Pure, on the first part of the message only: the caller copies
// the rest unchanged.

export interface HeaderEdit {
  add: string[];
  remove: string[];
  subjectTag: string | null;
}

export function isEmptyEdit(e: HeaderEdit): boolean {
  return e.add.length === 0 && e.remove.length === 0 && e.subjectTag === null;
}

const CRLF = '\r\n';

/**
 * `head` is the start of the message (`complete`: all of it). Returns the new header section and how
 * many octets of `head` it replaces. When the end of the header section is not
 * within `head` (a header section larger than what the caller read), only the
 * additions are made: nothing is removed or retagged rather than cut blindly.
 */
export function editHeaders(head: Buffer, edit: HeaderEdit, complete: boolean): { out: Buffer; replaced: number } {
  const added = edit.add.map((f) => f + CRLF).join('');
  // The header section ends at the first empty line; a message may also start with it (no headers),
  // or be all header (no body, no empty line).
  let end = head.indexOf('\r\n\r\n');
  if (head.subarray(0, 2).toString('latin1') === CRLF) end = -2;
  else if (end === -1 && complete && head.subarray(-2).toString('latin1') === CRLF) end = head.length - 2;
  if (end === -1) return { out: Buffer.concat([Buffer.from(added, 'utf8'), head]), replaced: head.length };
  const section = head.subarray(0, end + 2).toString('latin1');
  const fields = splitFields(section);
  const drop = new Set(edit.remove.map((n) => n.toLowerCase()));
  let sawSubject = false;
  const kept: string[] = [];
  for (const f of fields) {
    const name = f.slice(0, f.indexOf(':')).trim().toLowerCase();
    if (drop.has(name)) continue;
    if (name === 'subject' && edit.subjectTag !== null && !sawSubject) {
      sawSubject = true;
      const value = f.slice(f.indexOf(':') + 1).replace(/^ /, '');
      kept.push(value.startsWith(edit.subjectTag) ? f : `Subject: ${edit.subjectTag} ${value}`);
      continue;
    }
    kept.push(f);
  }
  if (edit.subjectTag !== null && !sawSubject) kept.push(`Subject: ${edit.subjectTag}${CRLF}`);
  const out = Buffer.concat([Buffer.from(added, 'utf8'), Buffer.from(kept.join(''), 'latin1')]);
  return { out, replaced: end + 2 };
}

/** Each field with its continuation lines and its final CRLF, in order. */
export function splitFields(section: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i < section.length) {
    let j = section.indexOf(CRLF, i);
    if (j < 0) j = section.length - 2;
    // Continuation lines start with a space or a tab.
    while (j + 2 < section.length && (section[j + 2] === ' ' || section[j + 2] === '\t')) {
      const k = section.indexOf(CRLF, j + 2);
      if (k < 0) break;
      j = k;
    }
    const field = section.slice(i, j + 2);
    // A line without a colon (broken input) stays attached as is: never dropped by name.
    if (field.includes(':') || fields.length === 0) fields.push(field);
    else fields[fields.length - 1] += field;
    i = j + 2;
  }
  return fields;
}
