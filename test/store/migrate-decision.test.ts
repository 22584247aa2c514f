// The pure parts of `store migrate`: whether a run starts afresh, resumes or
// is refused (src/store/migrate.ts), and the scrubbing of the URL's password
// from what the command prints (src/cli/store-commands.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideStart } from '../../src/store/migrate.ts';
import { scrubber } from '../../src/cli/store-commands.ts';

test('an empty target starts afresh; a target marked by this source resumes; anything else is refused', () => {
  assert.deepEqual(decideStart('h:/a', { marker: null, contents: [] }), { go: 'fresh' });
  assert.deepEqual(decideStart('h:/a', { marker: 'h:/a', contents: ['revisions', '3 queued messages'] }), { go: 'resume' });
  const other = decideStart('h:/a', { marker: 'h:/b', contents: [] });
  assert.equal(other.go, 'refuse');
  assert.match(other.go === 'refuse' ? other.reason : '', /from h:\/b .* under way/);
  const full = decideStart('h:/a', { marker: null, contents: ['1 admin account'] });
  assert.equal(full.go, 'refuse');
  assert.match(full.go === 'refuse' ? full.reason : '', /not empty \(1 admin account\)/);
});

test('the scrubber hides the password as given and percent-decoded, and the whole URL', () => {
  const url = 'postgresql://mw:p%40ss%3Aword@db1:5432,db2:5432/mw?target_session_attrs=read-write';
  const hide = scrubber(url);
  const out = hide(`connect to ${url} failed; password p@ss:word rejected; raw p%40ss%3Aword`);
  assert.ok(!out.includes('p@ss:word') && !out.includes('p%40ss%3Aword'), out);
  assert.match(out, /postgresql:\/\/mw:\*\*\*@db1:5432,db2:5432\/mw/);
  assert.equal(scrubber('postgresql://mw@db/mw')('nothing secret here'), 'nothing secret here');
});
