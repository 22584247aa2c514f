// Where a settings file fails to parse, shown as an editor would: the line
// number, the line itself, and a caret under the column. The settings parser
// (config/text.ts) says only which line; the positions come from the YAML
// parser's errors, or from the JSON parser's message.

import { parseDocument } from 'yaml';

export interface ParsePosition {
  /** 1-based, as editors count. */
  line: number;
  col: number;
  message: string;
}

/** The parse errors of `text` with their positions (empty when it parses, or when no position is known). */
export function parseErrorPositions(text: string): ParsePosition[] {
  if (/^\s*[{[]/.test(text)) {
    try {
      JSON.parse(text);
    } catch (err) {
      const message = (err as Error).message;
      const lc = /\(line ([0-9]+) column ([0-9]+)\)/.exec(message);
      if (lc) return [{ line: Number(lc[1]), col: Number(lc[2]), message: message.replace(/ in JSON at position [0-9]+ \(line [0-9]+ column [0-9]+\)$/, '') }];
      return [];
    }
  }
  // The options of config/text.ts, so that the same errors are found.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true, schema: 'core' });
  return doc.errors.flatMap((e) => {
    const start = e.linePos?.[0];
    return start ? [{ line: start.line, col: start.col, message: (e.message.split('\n')[0] ?? e.message).replace(/ at line [0-9]+, column [0-9]+:$/, '') }] : [];
  });
}

/** `  12 | text of line 12` and, under it, a caret at `col` (tabs kept, so that it lines up). */
export function excerpt(text: string, line: number, col: number): string {
  const src = (text.split(/\r?\n/)[line - 1] ?? '').replace(/\r$/, '');
  const gutter = String(line);
  const lead = src.slice(0, Math.max(0, col - 1)).replace(/[^\t]/g, ' ');
  return `  ${gutter} | ${src}\n  ${' '.repeat(gutter.length)} | ${lead}^`;
}
