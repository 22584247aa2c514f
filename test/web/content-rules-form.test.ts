// The Content rules page's pure parts (web/src/contentRules.ts): the rule
// form to a rule and back (empty fields left out, extensions without dots,
// lower case), the one-line description of a match, and moving a rule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blankForm, describeMatch, formOf, moved, ruleOf } from '../../web/src/contentRules.ts';

test('form to rule: empty fields left out, lists split on commas and spaces, extensions normalised', () => {
  const r = ruleOf({ ...blankForm(), name: ' exe ', extensions: '.EXE, scr  js', mimeTypes: 'Application/X-MSDownload', archive: true, sizeOver: 10, action: 'reject', comment: '  ' });
  assert.deepEqual(r, { name: 'exe', match: { extension: ['exe', 'scr', 'js'], mime_type: ['application/x-msdownload'], archive: true, size_over: 10 }, direction: 'both', action: 'reject' });
  const h = ruleOf({ ...blankForm(), name: 'h', headerName: 'Subject', headerRegex: 'urgent', body: 'pay now', direction: 'inbound', comment: 'phish' });
  assert.deepEqual(h, { name: 'h', match: { header: { name: 'Subject', regex: 'urgent' }, body: 'pay now' }, direction: 'inbound', action: 'quarantine', comment: 'phish' });
  // A header name without an expression is sent as it is: the server says what is missing.
  assert.deepEqual(ruleOf({ ...blankForm(), name: 'x', headerName: 'Subject' }).match, { header: { name: 'Subject', regex: '' } });
});

test('rule to form and back is the same rule', () => {
  const rule = { name: 'inv', match: { filename: '^invoice', mime_type: ['application/pdf'], size_over: 5 }, direction: 'relayed' as const, action: 'tag' as const, comment: 'c' };
  assert.deepEqual(ruleOf(formOf(rule)), { ...rule, match: { mime_type: ['application/pdf'], filename: '^invoice', size_over: 5 } });
});

test('the description of a match, long extension lists shortened', () => {
  assert.equal(describeMatch({ extension: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'], archive: true }), 'extension a, b, c, d, e, f, g, h … (10); also inside zip archives');
  assert.equal(describeMatch({ header: { name: 'Subject', regex: 'x' }, body: 'y', size_over: 3 }), 'over 3 octets; Subject /x/; text /y/');
});

test('moving a rule up and down; the ends stay', () => {
  assert.deepEqual(moved(['a', 'b', 'c'], 2, -1), ['a', 'c', 'b']);
  assert.deepEqual(moved(['a', 'b', 'c'], 0, 1), ['b', 'a', 'c']);
  assert.deepEqual(moved(['a', 'b', 'c'], 0, -1), ['a', 'b', 'c']);
  assert.deepEqual(moved(['a', 'b', 'c'], 2, 1), ['a', 'b', 'c']);
});
