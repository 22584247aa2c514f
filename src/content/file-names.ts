// File names as the content rules see them: the extensions of a name (every
// dot-separated suffix, as a double extension "invoice.pdf.exe" must count
// for both), with what Windows ignores at the end of a name (dots, spaces)
// stripped first, and a bounded, printable form of a name for logs.

const MAX_EXTENSIONS = 16;

/** Every extension of a name, lower case, last first: "Invoice.PDF.exe. " → ["exe", "pdf"]. */
export function extensionsOf(name: string): string[] {
  // The last path segment (a name in an archive is a path; a few mailers send one too).
  let base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  // Control characters (a NUL cuts a name short in some programs) count as nothing.
  base = base.replace(/[\x00-\x1f\x7f]/g, '');
  // Windows drops trailing dots and spaces: "a.exe. ." opens as a.exe.
  base = base.replace(/[. ]+$/, '');
  const segments = base.split('.');
  if (segments.length < 2) return [];
  const out: string[] = [];
  for (let i = segments.length - 1; i >= 1 && out.length < MAX_EXTENSIONS; i--) {
    const e = segments[i]!.trim().toLowerCase();
    if (e !== '' && !out.includes(e)) out.push(e);
  }
  return out;
}

/** A name for a log line or a header field: control characters escaped, at most `max` characters. */
export function printable(name: string, max = 120): string {
  const clean = name.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
