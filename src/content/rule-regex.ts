// The regular expressions of the content rules (filename, header, body):
// compiled one way everywhere (case-insensitive, Unicode), and refused at
// validation when they look slow. A rule's expression runs on the mail
// path against text an attacker writes, so an expression with nested
// unbounded repetition ("(a+)+", "(\w*\s?)*"), whose backtracking grows
// exponentially with the input, is an error, not a warning; so are the
// cheaply seen polynomial and exponential shapes: adjacent unbounded
// repetitions of overlapping characters ("a*a*b", "\w+\d+"), a repeated
// alternation whose branches start alike ("(a|aa)*"), a large counted
// repetition of a group holding an unbounded one ("(.*a){25}"). These are
// heuristics; the real bound is the worker thread the expressions run in on
// mail (expression-match.ts), which stops a message's matching after a time.

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
  const adjacent = adjacentRepeats(source);
  if (adjacent) return { error: `looks slow: ${adjacent}, which can take polynomial time on a crafted message; merge them into one` };
  const slow = slowPattern(source);
  if (slow) return { error: `looks slow: ${slow}, which can take exponential time on a crafted message; rewrite it` };
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
      if (!inClass && /[1-9]/.test(source[i + 1] ?? '')) return `the back-reference \\${source[i + 1]} is refused`;
      if (!inClass && source[i + 1] === 'k' && source[i + 2] === '<') return `the back-reference ${source.slice(i, source.indexOf('>', i) + 1 || i + 3)} is refused`;
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
      if (g.inner && after) return `"${source.slice(g.start, i + 1 + after)}" repeats a repetition`;
      const counted = /^\{(\d+)(?:,(\d+))?\}/.exec(source.slice(i + 1));
      if (g.inner && counted && Number(counted[2] ?? counted[1]) >= MAX_COUNTED_REPEAT) return `"${source.slice(g.start, i + 1 + counted[0].length)}" repeats a repetition many times`;
      if (after && overlappingBranches(source.slice(g.start + 1, i))) return `"${source.slice(g.start, i + 1 + after)}" repeats branches that can match the same text`;
      // The group repeated unboundedly makes its parent hold an unbounded repetition.
      if ((g.inner || after) && stack.length > 0) stack[stack.length - 1]!.inner = true;
      continue;
    }
    if (q && stack.length > 0) stack[stack.length - 1]!.inner = true;
  }
  return null;
}

/** A counted repetition of a group holding an unbounded one from this count on is refused ("(.*a){25}"). */
const MAX_COUNTED_REPEAT = 10;

/**
 * Two atoms in a row, each repeated unboundedly, that can match the same
 * character ("a*a*", "\w+\d*", ".*.*"): the text between them can be split
 * in as many ways as it is long, per pair. The two atoms, or null.
 */
export function adjacentRepeats(source: string): string | null {
  let prev: string | null = null;
  for (let i = 0; i < source.length; ) {
    const atom = atomAt(source, i);
    if (atom === null) {
      // A group, an alternation, an anchor, a lone quantifier: the sequence starts anew.
      prev = null;
      i += source[i] === '(' && source[i + 1] === '?' ? 2 : 1;
      continue;
    }
    const q = unboundedAt(source, i + atom.length);
    if (q && prev !== null && overlap(prev, atom)) return `"${prev}" and "${atom}" repeated side by side`;
    prev = q ? atom : null;
    i += atom.length + q;
    // A bounded quantifier after the atom ("a{2}", "a?") is skipped as a non-atom.
  }
  return null;
}

/** The text of the one-character atom at i (a literal, an escape, a class, "."), or null. */
function atomAt(s: string, i: number): string | null {
  const c = s[i]!;
  if ('()|*+?{}^$'.includes(c)) return null;
  if (c === '\\') {
    const n = s[i + 1] ?? '';
    if (/[pPu]/.test(n) && s[i + 2] === '{') return s.slice(i, s.indexOf('}', i) + 1 || s.length);
    if (n === 'x') return s.slice(i, i + 4);
    if (n === 'u') return s.slice(i, i + 6);
    if (/[bB1-9k]/.test(n)) return null;
    return s.slice(i, i + 2);
  }
  if (c === '[') {
    for (let j = i + 1; j < s.length; j++) {
      if (s[j] === '\\') j++;
      else if (s[j] === ']' && j > i + 1) return s.slice(i, j + 1);
    }
    return null;
  }
  return c;
}

const SAMPLES = ['a', 'z', 'A', 'Z', '0', '9', '_', ' ', '\t', '\n', '-', '.', '@', '/', 'é', 'ß', '€'];

/** Whether two one-character atoms can match the same character (tried on samples and on their own letters). */
function overlap(a: string, b: string): boolean {
  let ra: RegExp, rb: RegExp;
  try {
    ra = new RegExp(`^(?:${a})$`, RULE_REGEX_FLAGS);
    rb = new RegExp(`^(?:${b})$`, RULE_REGEX_FLAGS);
  } catch {
    return false;
  }
  const own = [...(a + b)].filter((ch) => !'\\[]^-'.includes(ch));
  return [...SAMPLES, ...own].some((ch) => ra.test(ch) && rb.test(ch));
}

/** Whether two top-level branches of a group's text start with atoms that can match the same character ("a|aa", "\w|\d"). */
function overlappingBranches(inner: string): boolean {
  const body = inner.replace(/^\?(?::|<[A-Za-z_$][\w$]*>)/, '');
  if (/^\?[=!<]/.test(inner)) return false;
  const branches: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const a = atomAt(body, i);
      if (a) i += a.length - 1;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      branches.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (branches.length === 0) return false;
  branches.push(body.slice(start));
  // An empty branch matches the empty text: "(a|)*" is as slow as "(a*)*".
  const firsts = branches.map((b) => (b.length === 0 ? '' : atomAt(b, 0)));
  if (firsts.filter((f) => f === '').length > 0) return true;
  for (let x = 0; x < firsts.length; x++) {
    for (let y = x + 1; y < firsts.length; y++) {
      if (firsts[x] !== null && firsts[y] !== null && overlap(firsts[x]!, firsts[y]!)) return true;
    }
  }
  return false;
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
