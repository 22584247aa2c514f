// The API's explain (the web admin's Explain page) with a directory user's
// name: the real daemon asks the real slapd as AUTH would, decides with the
// directory's groups and says what the directory said; a name found nowhere
// is refused at AUTH; with slapd stopped the API answers 503 and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startWithApi } from '../api/client.ts';
import { BASE_DN, READER_DN, READER_PASSWORD, slapdMissing, startSlapd } from '../support/slapd.ts';

test('API explain looks a directory user up as AUTH would', { skip: slapdMissing() }, async (t) => {
  const slapd = await startSlapd(t);
  const { api, password } = await startWithApi(t, {
    directories: [{ name: 'corp', url: slapd.url, ca: slapd.caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD }],
    relaying: { allowed_hosts: [], authenticated_relay: { enabled: true, users: [], groups: ['corp:relay-users'] } },
  });
  const me = await api.login('admin', password);
  const explain = (user: string) => api.call('POST', '/api/policy/explain', { body: { client: '127.0.0.5', listener: 'submission', user, from: `${user}@example.test`, to: 'x@example.org' }, as: me });

  // carol is in a group nested in corp:relay-users.
  const carol = await explain('carol');
  assert.equal(carol.status, 200, JSON.stringify(carol.json));
  assert.equal(carol.json.action, 'accept');
  assert.match(carol.json.trail.join('\n'), /user "carol" found in directory "corp": groups .*"corp:relay-users"/);
  assert.match(carol.json.trail.join('\n'), /member of group "corp:relay-users" named in relaying\.authenticated_relay\.groups/);

  const bob = await explain('bob');
  assert.equal(bob.json.action, 'reject');
  assert.match(bob.json.trail.join('\n'), /user "bob" found in directory "corp": groups "corp:others"/);

  const nobody = await explain('nobody');
  assert.equal(nobody.json.action, 'reject');
  assert.match(nobody.json.trail.join('\n'), /user "nobody" is neither a local user nor found in the directories \("corp"\)/);

  await slapd.stop();
  const down = await api.call('POST', '/api/policy/explain', { body: { client: '127.0.0.5', listener: 'submission', user: 'alice', to: 'x@example.org' }, as: me });
  assert.equal(down.status, 503);
  assert.match(JSON.stringify(down.json), /the directories did not answer about user \\?"alice\\?"/);
});
