// POST /api/content/test on the real daemon: an uploaded .eml answered with
// the parts and the rule that matched each (as `content test --json`), under
// the active settings; ?direction; a viewer may ask; a message over
// limits.max_message_size is refused (413) whether or not it declares its
// length; PUT /api/settings/content applies rules that the test then uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { startWithApi, type ApiClient, type Caller } from './client.ts';
import { composed, pyZip } from '../content/messages.ts';

/** A raw upload, optionally chunked (no Content-Length). */
function upload(api: ApiClient, path: string, body: Buffer, as: Partial<Caller>, chunked = false): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'message/rfc822' };
    if (as.cookie) headers.cookie = as.cookie;
    if (as.csrf) headers['x-csrf-token'] = as.csrf;
    if (!chunked) headers['content-length'] = String(body.length);
    const req = request({ host: '127.0.0.1', port: api.port, method: 'POST', path, headers, ca: api.ca, timeout: 20_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(parts).toString('utf8') || 'null') }));
    });
    req.on('error', reject);
    if (chunked) for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
    else req.write(body);
    req.end();
  });
}

test('POST /api/content/test: parts, hits, direction, any role, bounded size', async (t) => {
  const { api, password } = await startWithApi(t, { limits: { max_message_size: 200_000 } });
  const me = await api.login('admin', password);
  assert.equal(me.answer.status, 200);

  // The defaults: executables quarantined, also inside zips.
  const msg = await composed({ attachments: [{ filename: 'notes.txt', content: 'x' }, { filename: 'docs.zip', content: pyZip({ entries: [{ name: 'setup.msi', text: 'x' }] }) }] });
  const r = await upload(api, '/api/content/test', msg, me);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.action, 'quarantine');
  assert.equal(r.json.rule, 'executables');
  assert.equal(r.json.direction, 'inbound');
  assert.deepEqual(r.json.parts.map((p: { type: string }) => p.type), ['multipart/mixed', 'text/plain', 'text/plain', 'application/zip']);
  assert.equal(r.json.parts[3].archive[0].name, 'setup.msi');
  assert.equal(r.json.parts[3].archive[0].hits[0].rule, 'executables');

  // New rules through the settings section, then used by the test.
  const put = await api.call('PUT', '/api/settings/content', { as: me, body: { value: { rules: [{ name: 'out-zip', match: { extension: ['zip'] }, direction: 'relayed', action: 'reject' }] } } });
  assert.equal(put.status, 200, put.text);
  const inbound = await upload(api, '/api/content/test', msg, me);
  assert.equal(inbound.json.action, 'accept');
  assert.deepEqual(inbound.json.rules, []);
  const relayed = await upload(api, '/api/content/test?direction=relayed', msg, me);
  assert.equal(relayed.json.action, 'reject');
  assert.equal(relayed.json.parts[3].hits[0].rule, 'out-zip');
  const bad = await api.call('PUT', '/api/settings/content', { as: me, body: { value: { rules: [{ name: 'x', match: {}, action: 'tag' }] } } });
  assert.equal(bad.status, 422, bad.text);
  assert.equal(bad.json.errors[0].path, 'content.rules[0].match');
  assert.match(bad.json.errors[0].message, /an empty match matches nothing/);

  // A viewer may ask.
  assert.equal((await api.call('POST', '/api/admins', { body: { name: 'vera', password: 'viewer-pass-1', role: 'viewer' }, as: me })).status, 201);
  const viewer = await api.login('vera', 'viewer-pass-1');
  const v = await upload(api, '/api/content/test?direction=relayed', msg, viewer);
  assert.equal(v.status, 200);
  assert.equal(v.json.action, 'reject');

  // Too large: declared, and streamed without a length.
  const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(300_000, 'a')]);
  const declared = await upload(api, '/api/content/test', big, me);
  assert.equal(declared.status, 413);
  assert.match(declared.json.message, /larger than limits\.max_message_size \(200000 octets\)/);
  const streamed = await upload(api, '/api/content/test', big, me, true);
  assert.equal(streamed.status, 413);
  assert.equal((await api.call('POST', '/api/content/test?direction=sideways', { as: me, raw: 'x', headers: { 'content-type': 'message/rfc822' } })).status, 400);
});
