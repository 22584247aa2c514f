// readContent(): the `content` settings read from an untrusted document,
// every problem a finding with its path (unknown keys, empty match, bad and
// slow-looking expressions, duplicate names, bad direction or action,
// size_over <= 0, archive limits), and the defaults when `content` is absent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Findings } from '../../src/config/issues.ts';
import { Reader } from '../../src/config/reader.ts';
import { defaultContent, readContent } from '../../src/config/content-settings.ts';
import { compileRuleRegex, slowPattern } from '../../src/content/rule-regex.ts';
import { validate } from '../../src/config/validate.ts';

function read(v: unknown) {
  const f = new Findings();
  const s = readContent(new Reader(f), v);
  return { s, errors: f.errors.map((e) => `${e.path}: ${e.message}`) };
}

test('absent: the defaults (the executables rule, quarantined, both directions)', () => {
  const { s, errors } = read(undefined);
  assert.deepEqual(errors, []);
  assert.deepEqual(s, defaultContent());
  assert.equal(s.rules[0]!.action, 'quarantine');
  assert.equal(s.rules[0]!.direction, 'both');
  assert.equal(s.rules[0]!.match.archive, true);
  // In a whole document too.
  const v = validate({ hostname: 'mx.example.com', listeners: [] });
  assert.deepEqual(v.settings.content, defaultContent());
});

test('a valid document is read as given, normalised (extensions without dots, lower case)', () => {
  const { s, errors } = read({
    enabled: true,
    subject_tag: '[content]',
    rules: [
      { name: 'exe', match: { extension: ['.EXE', 'scr'], archive: true }, direction: 'inbound', action: 'reject', comment: 'executables' },
      { name: 'big', match: { mime_type: ['Video/*'], size_over: 1000 }, action: 'strip' },
      { name: 'phish', match: { header: { name: 'Subject', regex: 'password.*expire' }, body: 'verify your account' }, direction: 'relayed', action: 'tag' },
      { name: 'name', match: { filename: '^invoice' }, action: 'quarantine' },
    ],
    archive: { max_depth: 2, max_size: 1_000_000, max_expanded: 5_000_000, max_entries: 100, on_error: 'quarantine' },
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(s.rules[0], { name: 'exe', match: { extension: ['exe', 'scr'], archive: true }, direction: 'inbound', action: 'reject', comment: 'executables' });
  assert.deepEqual(s.rules[1]!.match, { mime_type: ['video/*'], size_over: 1000 });
  assert.equal(s.rules[1]!.direction, 'both', 'direction defaults to both');
  assert.deepEqual(s.archive, { max_depth: 2, max_size: 1_000_000, max_expanded: 5_000_000, max_entries: 100, on_error: 'quarantine' });
  assert.equal(s.subject_tag, '[content]');
});

test('every problem is a finding with its path', () => {
  const { errors } = read({
    enabeld: true,
    rules: [
      { name: 'a', match: {}, action: 'reject' },
      { name: 'a', match: { extension: ['exe'] }, action: 'reject' },
      { name: 'b', match: { extension: ['exe'] }, direction: 'outbound', action: 'drop' },
      { name: 'c', match: { size_over: 0 }, action: 'tag' },
      { name: 'd', match: { filename: '([a-z]+)+$' }, action: 'tag' },
      { name: 'e', match: { body: '(unclosed' }, action: 'tag' },
      { name: 'f', match: { extension: ['tar.gz'], mime_type: ['nonsense'] }, action: 'tag' },
      { name: 'g', match: { archive: true }, action: 'tag' },
      { name: 'h', match: { header: { name: 'Subject' } }, action: 'tag', colour: 'red' },
      { name: 'bad name!', match: { extension: [] }, action: 'tag' },
      { match: { extension: ['exe'] } },
    ],
    archive: { max_depth: 0, on_error: 'ignore', max_files: 3 },
  });
  const expect = [
    /^content\.enabeld: unknown setting "enabeld" \(did you mean "enabled"\?\)$/,
    /^content\.rules\[0\]\.match: an empty match matches nothing/,
    /^content\.rules\[1\]\.name: duplicate rule name "a" \(also content\.rules\[0\]\)/,
    /^content\.rules\[2\]\.direction: must be one of inbound, relayed, both/,
    /^content\.rules\[2\]\.action: must be one of reject, quarantine, strip, tag/,
    /^content\.rules\[3\]\.match\.size_over: must be a whole number of octets more than 0/,
    /^content\.rules\[4\]\.match\.filename: looks slow: "\(\[a-z\]\+\)\+" repeats a repetition.*case-insensitive/,
    /^content\.rules\[5\]\.match\.body: not a valid regular expression/,
    /^content\.rules\[6\]\.match\.extension\[0\]: "tar\.gz" is not an extension without dots/,
    /^content\.rules\[6\]\.match\.mime_type\[0\]: "nonsense" is not a MIME type/,
    /^content\.rules\[7\]\.match\.archive: archive: true widens extension, filename or size_over/,
    /^content\.rules\[8\]\.colour: unknown setting "colour"/,
    /^content\.rules\[8\]\.match\.header\.regex: is required/,
    /^content\.rules\[9\]\.name: "bad name!" is not a rule name/,
    /^content\.rules\[9\]\.match\.extension: an empty list matches nothing/,
    /^content\.rules\[10\]\.name: is required/,
    /^content\.rules\[10\]\.action: is required/,
    /^content\.archive\.max_files: unknown setting/,
    /^content\.archive\.max_depth: must be between 1 and 10/,
    /^content\.archive\.on_error: must be one of accept, quarantine, reject/,
  ];
  for (const re of expect) assert.ok(errors.some((e) => re.test(e)), `expected a finding like ${re}; got:\n${errors.join('\n')}`);
  assert.equal(errors.length, expect.length, errors.join('\n'));
});

test('expressions: compiled case-insensitive and Unicode; nested repetition and back-references refused as slow', () => {
  const c = compileRuleRegex('^rechnung');
  assert.ok('re' in c && c.re.test('RECHNUNG.pdf') && c.re.flags.includes('i') && c.re.flags.includes('u'));
  for (const slow of ['(a+)+', '(a*)*b', '(\\w+\\s?)*$', '((ab)*c)+', '(x+){2,}', '(a|b)\\1']) assert.ok(slowPattern(slow), slow);
  for (const fine of ['a+b+', '(abc)+', '[(]+', '\\(a+\\)+', '(a{1,3})+', 'invoice\\.(pdf|exe)$', '(?:a|b)c*']) assert.equal(slowPattern(fine), null, fine);
  assert.ok('error' in compileRuleRegex(''));
  assert.ok('error' in compileRuleRegex('x'.repeat(1025)));
});

test('expressions: named back-references, adjacent overlapping repetitions, overlapping repeated branches and large counted repetitions refused', () => {
  for (const slow of ['(?<a>x)\\k<a>', 'a*a*a*a*b', '\\w+\\d+x', '.*.*x', '[a-z]+a+', '(a|aa)*b', '(a|a)*b', '(\\w|\\d)+x', '(?:x|)*y', '(.*a){25}', '(\\w+\\s){1,20}']) {
    const c = compileRuleRegex(slow);
    assert.ok('error' in c && /^looks slow: /.test(c.error), `${slow}: ${JSON.stringify(c)}`);
  }
  assert.match((compileRuleRegex('(?<a>x)\\k<a>') as { error: string }).error, /back-reference \\k<a> is refused/);
  for (const fine of ['\\s*\\w+', 'password.*reset', 'verify your account', '(abc|def)+x', '(\\w+\\s){1,3}', 'a+b+', '^invoice.*\\.pdf$', '[0-9]+[a-z]+', 'x{2,}y', '(?<word>rechnung)\\s+nr']) {
    assert.ok('re' in compileRuleRegex(fine), `${fine}: ${JSON.stringify(compileRuleRegex(fine))}`);
  }
});

test('rules in a list that is too long, and a subject tag with a control character', () => {
  const many = Array.from({ length: 201 }, (_, i) => ({ name: `r${i}`, match: { extension: ['exe'] }, action: 'tag' }));
  assert.match(read({ rules: many }).errors[0]!, /^content\.rules: at most 200 rules/);
  assert.match(read({ subject_tag: 'a\nb' }).errors[0]!, /^content\.subject_tag: must not hold control characters/);
  assert.deepEqual(read({ rules: [] }).s.rules, [], 'an empty list: no rules (the check costs nothing)');
});
