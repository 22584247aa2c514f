// Header edits (src/scan/header-edit.ts): removal with continuation lines,
// the subject marker, additions, and the limits of what is edited.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editHeaders } from '../../src/scan/header-edit.ts';

const msg = (s: string) => Buffer.from(s, 'latin1');
const apply = (m: string, edit: Parameters<typeof editHeaders>[1], complete = true) => {
  const { out, replaced } = editHeaders(msg(m), edit, complete);
  return out.toString('latin1') + m.slice(replaced);
};

const MESSAGE = 'Received: from a\r\n\tby b\r\nX-Spam-Status: Yes,\r\n tests=FORGED\r\nSubject: Hello\r\n there\r\nx-spam-flag: NO\r\nFrom: a@example.com\r\n\r\nbody\r\nX-Spam-Status: in the body stays\r\n';

test('forged headers go with their continuation lines, the body is untouched', () => {
  const out = apply(MESSAGE, { add: ['X-Spam-Status: No, score=0.1', 'X-Spam-Score: 0.1'], remove: ['X-Spam-Status', 'X-Spam-Flag'], subjectTag: null });
  assert.equal(out, 'X-Spam-Status: No, score=0.1\r\nX-Spam-Score: 0.1\r\nReceived: from a\r\n\tby b\r\nSubject: Hello\r\n there\r\nFrom: a@example.com\r\n\r\nbody\r\nX-Spam-Status: in the body stays\r\n');
});

test('the subject marker goes before the first Subject, once', () => {
  const out = apply(MESSAGE, { add: [], remove: [], subjectTag: '[SPAM]' });
  assert.match(out, /\r\nSubject: \[SPAM\] Hello\r\n there\r\n/);
  const again = apply(out, { add: [], remove: [], subjectTag: '[SPAM]' });
  assert.equal(again, out);
  const none = apply('From: a@b\r\n\r\nx\r\n', { add: [], remove: [], subjectTag: '[SPAM]' });
  assert.equal(none, 'From: a@b\r\nSubject: [SPAM]\r\n\r\nx\r\n');
});

test('a message that is all header, or has none', () => {
  assert.equal(apply('Subject: x\r\nX-Spam-Flag: YES\r\n', { add: ['A: 1'], remove: ['x-spam-flag'], subjectTag: '[S]' }), 'A: 1\r\nSubject: [S] x\r\n');
  assert.equal(apply('\r\nbody\r\n', { add: ['A: 1'], remove: ['Subject'], subjectTag: null }), 'A: 1\r\n\r\nbody\r\n');
});

test('when the end of the header section is not in view, only additions are made', () => {
  const head = 'Subject: x\r\nX-Spam-Flag: YES\r\nX-Long: ';
  const out = editHeaders(msg(head), { add: ['A: 1'], remove: ['X-Spam-Flag'], subjectTag: '[S]' }, false);
  assert.equal(out.out.toString('latin1'), 'A: 1\r\n' + head);
  assert.equal(out.replaced, head.length);
});
