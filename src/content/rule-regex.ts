// The regular expressions of the content rules (filename, header, body):
// compiled one way everywhere (case-insensitive, Unicode), and refused at
// validation when they look slow. A rule's expression runs on the mail
// path against text an attacker writes, so an expression with nested
// unbounded repetition ("(a+)+", "(\w*\s?)*"), whose backtracking grows
// exponentially with the input, is an error, not a warning.

/** Flags of every content rule expression: case-insensitive, Unicode (so that "." is one character of a decoded name). */
export const RULE_REGEX_FLAGS = 'iu';
export const MAX_REGEX_LENGTH = 1024;

/** The compiled expression, or why it cannot be one. */
export function compileRuleRegex(source: string): { re: RegExp } | { error: string } {
  if (source.length === 0) return { error: 'an empty expression matches everything; remove the key instead' };
  if (source.length > MAX_REGEX_LENGTH) return { error: `longer than ${MAX_REGEX_LENGTH} characters` };
  let re: RegExp;
  try {
    re = new RegExp(source, RULE_REGEX_FLAGS);
  } catch (err) {
    return { error: `not a valid regular expression (${err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err)})` };
  }
  const slow = slowPattern(source);
  if (slow) return { error: `looks slow: ${slow} repeats a repetition, which can take exponential time on a crafted message; rewrite it without the nesting` };
  return { re };
}

/**
 * The first group that carries an unbounded quantifier and contains one
 * itself (star height 2), or a back-reference, as the text of the group; null
 * when none. A heuristic in the manner of safe-regex: it refuses some
 * harmless expressions, never a linear one without nesting.
 */
export function slowPattern(source: string): string | null {
  // Per open group: where it starts and whether an unbounded quantifier occurs inside.
  const stack: { start: number; inner: boolean }[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      if (!inClass && /[1-9]/.test(source[i + 1] ?? '')) return `the back-reference \\${source[i + 1]}`;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(') {
      stack.push({ start: i, inner: false });
      continue;
    }
    const q = unboundedAt(source, i);
    if (c === ')') {
      const g = stack.pop();
      if (!g) continue;
      const after = unboundedAt(source, i + 1);
      if (g.inner && after) return `"${source.slice(g.start, i + 1 + after)}"`;
      // The group repeated unboundedly makes its parent hold an unbounded repetition.
      if ((g.inner || after) && stack.length > 0) stack[stack.length - 1]!.inner = true;
      continue;
    }
    if (q && stack.length > 0) stack[stack.length - 1]!.inner = true;
  }
  return null;
}

/** The length of an unbounded quantifier (*, +, {n,}) at i, 0 when there is none. */
function unboundedAt(s: string, i: number): number {
  const c = s[i];
  if (c === '*' || c === '+') return s[i + 1] === '?' ? 2 : 1;
  if (c === '{') {
    const m = /^\{\d*,\}\??/.exec(s.slice(i));
    if (m) return m[0].length;
  }
  return 0;
}
