// The pure decision of the content rules (src/content/match-rules.ts) on
// made-up walks: AND of the keys on one and the same part, names in
// archives only with archive: true, MIME type patterns, message-level keys,
// the precedence of actions, what strip removes and when it quarantines
// instead, the tag fields, on_error, and the bounds on hits.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContentRule } from '../../src/config/content-settings.ts';
import type { PartInfo } from '../../src/content/content-types.ts';
import type { Inspection } from '../../src/content/inspect.ts';
import { extensionsOf } from '../../src/content/file-names.ts';
import { BodyMatches, compileRule, decide, matchRules, MAX_HITS_PER_RULE, MAX_TAG_FIELDS, mimeMatches, rulesFor, walkNeeds } from '../../src/content/match-rules.ts';
import { defaultContent } from '../../src/config/content-settings.ts';

function part(index: number, filename: string | null, mimeType = 'application/octet-stream', size = 10, extra: Partial<PartInfo> = {}): PartInfo {
  return { index, mimeType, filename, extensions: filename ? extensionsOf(filename) : [], size, multipart: mimeType.startsWith('multipart/'), ...extra };
}

function walk(parts: PartInfo[], extra: Partial<Inspection> = {}): Inspection {
  return { parts, entries: [], headers: new Map(), size: 1000, archiveProblems: [], incomplete: null, unstrippable: new Map(), ...extra };
}

function rule(name: string, match: ContentRule['match'], action: ContentRule['action'] = 'reject', direction: ContentRule['direction'] = 'both'): ContentRule {
  return { name, match, action, direction };
}

const MSG = walk([part(1, null, 'multipart/mixed', 0), part(2, null, 'text/plain', 50), part(3, 'Invoice.PDF.exe', 'application/pdf', 5000), part(4, 'photo.jpg', 'image/jpeg', 90000)]);

function hits(r: ContentRule, x = MSG, body = new BodyMatches([])) {
  return matchRules([compileRule(r)], x, body, 'accept');
}

test('extensions: every dot-separated suffix, trailing dots and spaces dropped, paths cut', () => {
  assert.deepEqual(extensionsOf('invoice.pdf.exe'), ['exe', 'pdf']);
  assert.deepEqual(extensionsOf('INVOICE.PDF.EXE. . '), ['exe', 'pdf']);
  assert.deepEqual(extensionsOf('dir.v2/readme'), []);
  assert.deepEqual(extensionsOf('C:\\x.y\\run.bat'), ['bat']);
  assert.deepEqual(extensionsOf('.hta'), ['hta']);
  assert.deepEqual(extensionsOf('noext'), []);
  assert.deepEqual(extensionsOf('a.exe\0.txt'), ['txt', 'exe']);
  assert.equal(extensionsOf('a' + '.x'.repeat(100)).length, 1, 'duplicates counted once');
});

test('the keys of one rule must hold for the same part', () => {
  assert.equal(hits(rule('r', { extension: ['exe'], mime_type: ['application/pdf'] })).length, 1, 'both on part 3');
  assert.equal(hits(rule('r', { extension: ['exe'], mime_type: ['image/jpeg'] })).length, 0, 'exe on 3, jpeg on 4: no part has both');
  assert.equal(hits(rule('r', { extension: ['jpg'], size_over: 80000 })).length, 1);
  assert.equal(hits(rule('r', { extension: ['exe'], size_over: 80000 })).length, 0, 'size of the same part');
  assert.equal(hits(rule('r', { filename: '^invoice\\.pdf' })).length, 1, 'case-insensitive');
  assert.equal(hits(rule('r', { filename: '^photo', extension: ['exe'] })).length, 0);
});

test('MIME type patterns', () => {
  assert.ok(mimeMatches('image/*', 'image/jpeg'));
  assert.ok(!mimeMatches('image/*', 'imagex/jpeg'));
  assert.ok(mimeMatches('text/plain', 'text/plain'));
  assert.ok(!mimeMatches('text/plain', 'text/plainx'));
  assert.deepEqual(hits(rule('r', { mime_type: ['multipart/*'] })).map((h) => h.part?.index), [1], 'containers have a type too');
});

test('names in archives count only with archive: true; MIME types never match them', () => {
  const entry = part(4, 'setup.exe', 'application/octet-stream', 70, { inArchive: ['photo.jpg'] });
  const x = walk(MSG.parts.slice(0, 2).concat(part(4, 'a.zip', 'application/zip')), { entries: [entry] });
  assert.equal(hits(rule('r', { extension: ['exe'] }), x).length, 0);
  const h = hits(rule('r', { extension: ['exe'], archive: true }), x);
  assert.equal(h.length, 1);
  assert.equal(h[0]!.part, entry);
  assert.match(h[0]!.what, /extension exe of setup\.exe \(inside photo\.jpg\)/);
  assert.equal(hits(rule('r', { mime_type: ['application/octet-stream'], archive: true } as ContentRule['match']), x).length, 0);
  assert.equal(hits(rule('r', { size_over: 50, extension: ['exe'], archive: true }), x).length, 1);
});

test('message-level keys: header, body, size_over alone', () => {
  const x = walk(MSG.parts, { headers: new Map([['subject', ['Your parcel', 'second subject']]]), size: 2000 });
  assert.equal(hits(rule('r', { header: { name: 'Subject', regex: 'second' } }), x)[0]!.part, null);
  assert.equal(hits(rule('r', { header: { name: 'Subject', regex: 'nothing' } }), x).length, 0);
  assert.equal(hits(rule('r', { header: { name: 'Subject', regex: 'parcel' }, extension: ['jpg'] }), x)[0]!.part?.index, 4, 'with a file key, the hit is the part');
  assert.equal(hits(rule('r', { header: { name: 'X-Other', regex: '.' } }), x).length, 0, 'an absent field never matches');
  assert.equal(hits(rule('r', { size_over: 1999 }), x).length, 1);
  assert.equal(hits(rule('r', { size_over: 2000 }), x).length, 0, 'over, not equal');
  const r = rule('b', { body: 'pay now' });
  const body = new BodyMatches([compileRule(r)]);
  body.onText(MSG.parts[1]!, 'Please PAY NOW.');
  assert.deepEqual(hits(r, x, body).map((h) => h.part?.index), [2]);
  assert.equal(hits(r, x, new BodyMatches([compileRule(r)])).length, 0);
});

test('the strongest action wins; every hit is kept', () => {
  const rs = [rule('t', { extension: ['jpg'] }, 'tag'), rule('s', { extension: ['exe'] }, 'strip'), rule('q', { extension: ['pdf'] }, 'quarantine'), rule('x', { mime_type: ['image/jpeg'] }, 'reject')].map(compileRule);
  for (let n = 1; n <= rs.length; n++) {
    const d = decide(matchRules(rs.slice(0, n), MSG, new BodyMatches([]), 'accept'));
    assert.equal(d.action, ['tag', 'strip', 'quarantine', 'reject'][n - 1]);
    assert.equal(d.hits.length, n);
  }
  assert.equal(decide([]).action, 'accept');
});

test('strip removes every part a strip rule hit, once; a part that cannot go alone quarantines instead', () => {
  const x = walk([part(1, null, 'multipart/mixed', 0), part(2, 'a.exe'), part(3, 'b.exe'), part(4, 'c.zip', 'application/zip')], { entries: [part(4, 'in.exe', 'application/octet-stream', 1, { inArchive: ['c.zip'] }), part(4, 'in2.exe', 'application/octet-stream', 1, { inArchive: ['c.zip'] })] });
  const d = decide(matchRules([compileRule(rule('s', { extension: ['exe'], archive: true }, 'strip'))], x, new BodyMatches([]), 'accept'));
  assert.equal(d.action, 'strip');
  assert.deepEqual(d.action === 'strip' && d.parts.map((p) => p.index), [2, 3, 4]);
  assert.match(d.action === 'strip' ? d.parts[2]!.reason : '', /^s: extension exe of in\.exe \(inside c\.zip\)/);
  const single = decide(matchRules([compileRule(rule('s', { extension: ['exe'] }, 'strip'))], walk([part(1, 'a.exe')]), new BodyMatches([]), 'accept'));
  assert.equal(single.action, 'quarantine');
  assert.match(single.action === 'quarantine' ? single.instead! : '', /root of the message/);
  const whole = decide(matchRules([compileRule(rule('s', { size_over: 1 }, 'strip'))], MSG, new BodyMatches([]), 'accept'));
  assert.equal(whole.action, 'quarantine', 'a hit on the message as a whole cannot be stripped');
  const signed = decide(matchRules([compileRule(rule('s', { extension: ['exe'] }, 'strip'))], x, new BodyMatches([]), 'accept'), (i) => (i === 3 ? 'a part of a multipart/signed' : null));
  assert.equal(signed.action, 'quarantine');
  assert.match(signed.action === 'quarantine' ? signed.instead! : '', /part 3, a part of a multipart\/signed/);
});

test('tag: one field per hit, bounded, printable ASCII without parentheses', () => {
  const many = walk(Array.from({ length: 30 }, (_, i) => part(i + 1, `n(${i})é.pdf`)));
  const d = decide(matchRules([compileRule(rule('t', { extension: ['pdf'] }, 'tag'))], many, new BodyMatches([]), 'accept'));
  assert.equal(d.action, 'tag');
  const fields = d.action === 'tag' ? d.fields : [];
  assert.equal(fields.length, MAX_TAG_FIELDS);
  assert.equal(fields[0], 'X-Mailwarden-Content: t (extension pdf of n0e.pdf)');
  for (const f of fields) assert.match(f, /^[\x20-\x7e]+$/);
});

test('archive problems: on_error, only when a rule looks into archives', () => {
  const x = walk(MSG.parts, { archiveProblems: [{ index: 4, chain: ['a.zip'], reason: 'encrypted: x' }] });
  const withArchive = [compileRule(rule('r', { extension: ['scr'], archive: true }))];
  assert.equal(decide(matchRules(withArchive, x, new BodyMatches([]), 'accept')).action, 'accept');
  const q = decide(matchRules(withArchive, x, new BodyMatches([]), 'quarantine'));
  assert.equal(q.action, 'quarantine');
  assert.equal(q.hits[0]!.rule, 'archive.on_error');
  assert.match(q.hits[0]!.what, /archive a\.zip not read: encrypted: x/);
  assert.equal(decide(matchRules([compileRule(rule('r', { extension: ['scr'] }))], x, new BodyMatches([]), 'reject')).action, 'accept');
});

test('hits per rule are bounded; rules by direction; what the walk must collect', () => {
  const many = walk(Array.from({ length: 500 }, (_, i) => part(i + 1, `f${i}.exe`)));
  assert.equal(hits(rule('r', { extension: ['exe'] }), many).length, MAX_HITS_PER_RULE);
  const s = { ...defaultContent(), rules: [rule('i', { extension: ['a'] }, 'tag', 'inbound'), rule('o', { body: 'x', header: { name: 'Subject', regex: 'y' } }, 'tag', 'relayed'), rule('b', { extension: ['c'] }, 'tag', 'both')] };
  assert.deepEqual(rulesFor(s, false).map((r) => r.rule.name), ['i', 'b']);
  assert.deepEqual(rulesFor(s, true).map((r) => r.rule.name), ['o', 'b']);
  assert.deepEqual(rulesFor({ ...s, enabled: false }, true), []);
  assert.deepEqual(walkNeeds(rulesFor(s, true)), { archives: false, headers: ['subject'], text: true, partSize: false });
  assert.deepEqual(walkNeeds(rulesFor(defaultContent(), false)), { archives: true, headers: [], text: false, partSize: false });
});
