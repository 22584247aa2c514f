// The pure halves of the CLI's error printing: paths labelled with object
// names, and the excerpt with a caret.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labelFindings, labelPath } from '../../src/cli/finding-labels.ts';
import { excerpt, parseErrorPositions } from '../../src/cli/parse-excerpt.ts';

const doc = {
  networks: [{ name: 'office' }, { name: 'legacy', address: '010.1.2.3' }],
  listeners: [{ name: 'mx', trusted_proxies: ['lb'] }],
  antispam: { dnsbl: [{ zone: 'zen.example' }], exceptions: [{ networks: ['office'] }] },
  relaying: { allowed_hosts: ['office'] },
};

test('labelPath names each named object on the path, and leaves the rest alone', () => {
  assert.equal(labelPath('networks[1]', doc), 'networks[1] ("legacy")');
  assert.equal(labelPath('networks[1].address', doc), 'networks[1] ("legacy").address');
  assert.equal(labelPath('listeners[0].trusted_proxies[0]', doc), 'listeners[0] ("mx").trusted_proxies[0]');
  assert.equal(labelPath('antispam.dnsbl[0].answers[2]', doc), 'antispam.dnsbl[0] ("zen.example").answers[2]');
  assert.equal(labelPath('antispam.exceptions[0].networks[0]', doc), 'antispam.exceptions[0].networks[0]');
  assert.equal(labelPath('relaying.allowed_hosts[0]', doc), 'relaying.allowed_hosts[0]');
  assert.equal(labelPath('networks[7].address', doc), 'networks[7].address', 'no such element');
  assert.equal(labelPath('hostname', doc), 'hostname');
  assert.equal(labelPath('line 3', doc), 'line 3', 'not a settings path');
  assert.equal(labelPath('networks[1]', 'not a document'), 'networks[1]');
  assert.deepEqual(labelFindings([{ path: 'networks[0].name', message: 'm' }, { path: '', message: 'n' }], doc), [
    { path: 'networks[0] ("office").name', message: 'm' },
    { path: '', message: 'n' },
  ]);
});

test('excerpt puts the caret under the column, tabs kept', () => {
  assert.equal(excerpt('a: 1\nbb: [2\n', 2, 5), '  2 | bb: [2\n    |     ^');
  assert.equal(excerpt('x\n\t y: 1\n', 2, 3), '  2 | \t y: 1\n    | \t ^');
  assert.equal(excerpt('one line', 1, 1), '  1 | one line\n    | ^');
});

test('parseErrorPositions finds YAML and JSON positions, and nothing in a valid document', () => {
  assert.deepEqual(parseErrorPositions('a: 1\na: 2\n'), [{ line: 2, col: 1, message: 'Map keys must be unique' }]);
  const j = parseErrorPositions('{\n  "a" 1\n}');
  assert.equal(j.length, 1);
  assert.deepEqual([j[0]?.line, j[0]?.col], [2, 7]);
  assert.deepEqual(parseErrorPositions('a: 1\n'), []);
  assert.deepEqual(parseErrorPositions('{"a": 1}'), []);
});
