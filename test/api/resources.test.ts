// Every resource of the REST API against a running daemon (issue #8): the
// settings document (read without secrets, validate, diff, apply; errors
// change nothing), sections, object lists, revisions with diff and rollback,
// the queue and the quarantine, explain and the open-relay test, statistics
// and the live log. Unknown fields are errors, never dropped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { RawClient, type Relay } from '../smtp/harness.ts';
import { Spool } from '../../src/queue/spool.ts';
import { memoryLogger } from '../../src/log/logger.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { message, sendMessage } from '../scan/scan-helpers.ts';
import { startWithApi, type ApiClient, type Caller } from './client.ts';

const DOMAINS = { domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }] };

async function session(t: Parameters<typeof startWithApi>[0], extra: Record<string, unknown> = DOMAINS): Promise<{ api: ApiClient; me: Caller; relay: Relay }> {
  const { api, password, relay } = await startWithApi(t, extra);
  return { api, me: await api.login('admin', password), relay };
}

test('the settings document: no secrets out; validate and diff change nothing; apply with an error is 422 and changes nothing; a good apply is a new revision', async (t) => {
  const { api, me } = await session(t);
  // A group the user names that does not exist yet is created with it (as `user add --group` does).
  assert.equal((await api.call('POST', '/api/users', { body: { name: 'alice', password: 's3cret-pw', groups: ['staff'] }, as: me })).status, 201);
  assert.deepEqual((await api.call('GET', '/api/groups', { as: me })).json, [{ name: 'staff' }]);
  const got = await api.call('GET', '/api/settings', { as: me });
  assert.equal(got.status, 200);
  assert.doesNotMatch(got.text, /"password(_hash)?"|scrypt/, 'no password or hash leaves');
  const doc = got.json.document;
  const rev = got.json.revision as number;

  const bad = { ...doc, relaying: { ...doc.relaying, allowed_hosts: ['Any'] }, limits: { ...doc.limits, max_recipients: 0 }, bogus: true };
  const v = await api.call('POST', '/api/settings/validate', { body: { document: bad }, as: me });
  assert.equal(v.status, 200);
  assert.equal(v.json.ok, false);
  assert.deepEqual(v.json.errors.map((e: { path: string }) => e.path).sort(), ['bogus', 'limits.max_recipients', 'relaying.allowed_hosts']);
  const d = await api.call('POST', '/api/settings/diff', { body: { document: { ...doc, hostname: 'other.example' } }, as: me });
  assert.deepEqual(d.json.changes.map((c: { path: string }) => c.path), ['hostname']);
  const refused = await api.call('PUT', '/api/settings', { body: { document: bad, comment: 'should not land' }, as: me });
  assert.equal(refused.status, 422);
  assert.equal(refused.json.revision, null);
  assert.equal((await api.call('GET', '/api/settings', { as: me })).json.revision, rev, 'nothing changed');

  // The document sent back as it came (without secrets) keeps alice's password.
  const ok = await api.call('PUT', '/api/settings', { body: { document: { ...doc, hostname: 'mx2.test.example' }, comment: 'rename' }, as: me });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.revision.number, rev + 1);
  assert.deepEqual(ok.json.changes.map((c: { path: string }) => c.path), ['hostname']);
  assert.equal(ok.json.revision.comment, 'rename');
});

test('unknown fields are 400 naming the field; wrong types are not coerced', async (t) => {
  const { api, me } = await session(t);
  const a = await api.call('POST', '/api/networks', { body: { name: 'n', type: 'host', address: '10.0.0.1', adress: 'typo' }, as: me });
  assert.equal(a.status, 400);
  assert.match(a.json.message, /body\.adress: unknown field/);
  const b = await api.call('PUT', '/api/settings/limits', { body: { value: { max_recipients: '50' } }, as: me });
  assert.equal(b.status, 422, 'a string is not a number');
  assert.match(JSON.stringify(b.json.errors), /limits\.max_recipients.*expected a whole number/);
  const c = await api.call('PUT', '/api/settings/relaying', { body: { value: { allowed_hosts: ['localhost'], scan_relayd: false } }, as: me });
  assert.equal(c.status, 422);
  assert.match(JSON.stringify(c.json.errors), /relaying\.scan_relayd.*unknown setting.*scan_relayed/);
  const d = await api.call('POST', '/api/groups', { raw: '{"name": "x"', as: me });
  assert.equal(d.status, 400, 'broken JSON');
  const e = await api.call('GET', '/api/settings/nonsense', { as: me });
  assert.equal(e.status, 400);
});

test('sections: read and apply one; an open relay is refused with the reason and nothing changes', async (t) => {
  const { api, me } = await session(t);
  const r = await api.call('GET', '/api/settings/relaying', { as: me });
  assert.deepEqual(r.json.value.allowed_hosts, ['localhost']);
  const open = await api.call('PUT', '/api/settings/relaying', { body: { value: { ...r.json.value, allowed_hosts: ['localhost', 'Any'] } }, as: me });
  assert.equal(open.status, 422);
  assert.match(open.json.errors[0].message, /open relay/);
  assert.deepEqual((await api.call('GET', '/api/settings/relaying', { as: me })).json.value.allowed_hosts, ['localhost']);
  const lim = await api.call('PUT', '/api/settings/limits', { body: { value: { max_recipients: 7 }, revision: r.json.revision }, as: me });
  assert.equal(lim.status, 200);
  // A change made against an older revision is refused: someone else applied meanwhile.
  const stale = await api.call('PUT', '/api/settings/limits', { body: { value: { max_recipients: 9 }, revision: r.json.revision }, as: me });
  assert.equal(stale.status, 409);
  assert.match(stale.json.message, /changed since revision 1 \(now 2\)/);
  assert.equal((await api.call('GET', '/api/settings/limits', { as: me })).json.value.max_recipients, 7);
  // The dashboard's open-relay flag is rule 8's verdict on the active settings, not the acknowledgement alone.
  assert.equal((await api.call('PUT', '/api/settings/relaying', { body: { value: { ...r.json.value, open_relay_acknowledged: true } }, as: me })).status, 200);
  assert.equal((await api.call('GET', '/api/stats', { as: me })).json.open_relay, false);
  assert.equal((await api.call('PUT', '/api/settings/relaying', { body: { value: { ...r.json.value, allowed_hosts: ['Any'], open_relay_acknowledged: true } }, as: me })).status, 200);
  assert.equal((await api.call('GET', '/api/stats', { as: me })).json.open_relay, true);
});

test('object lists: networks, users, groups, domains: add, read, change, remove; a referenced object cannot go', async (t) => {
  const { api, me } = await session(t);
  assert.equal((await api.call('POST', '/api/networks', { body: { name: 'office', type: 'network', address: '10.1.0.0/16' }, as: me })).status, 201);
  assert.equal((await api.call('POST', '/api/networks', { body: { name: 'office', type: 'host', address: '10.1.0.1' }, as: me })).status, 409);
  assert.equal((await api.call('POST', '/api/networks', { body: { name: 'bad', type: 'network', address: '10.1.0.1/16' }, as: me })).status, 422, 'host bits set');
  assert.deepEqual((await api.call('GET', '/api/networks/office', { as: me })).json, { name: 'office', type: 'network', address: '10.1.0.0/16' });
  const relaying = (await api.call('GET', '/api/settings/relaying', { as: me })).json.value;
  assert.equal((await api.call('PUT', '/api/settings/relaying', { body: { value: { ...relaying, allowed_hosts: ['localhost', 'office'] } }, as: me })).status, 200);
  const inUse = await api.call('DELETE', '/api/networks/office', { as: me });
  assert.equal(inUse.status, 422);
  assert.match(inUse.json.message, /still used by relaying\.allowed_hosts/);
  assert.equal((await api.call('PUT', '/api/networks/office', { body: { name: 'office', type: 'network', address: '10.2.0.0/16', comment: 'moved' }, as: me })).status, 200);
  assert.equal((await api.call('GET', '/api/networks/office', { as: me })).json.address, '10.2.0.0/16');
  assert.equal((await api.call('PUT', '/api/networks/office', { body: { name: 'renamed', type: 'host', address: '10.0.0.1' }, as: me })).status, 400);

  assert.equal((await api.call('POST', '/api/groups', { body: { name: 'staff' }, as: me })).status, 201);
  assert.equal((await api.call('POST', '/api/users', { body: { name: 'bob', password: 'bob-password-1', groups: ['staff'] }, as: me })).status, 201);
  const users = await api.call('GET', '/api/users', { as: me });
  assert.deepEqual(users.json, [{ name: 'bob', groups: ['staff'], enabled: true }]);
  assert.equal((await api.call('PUT', '/api/users/bob', { body: { enabled: false }, as: me })).status, 200);
  assert.equal((await api.call('GET', '/api/users/bob', { as: me })).json.enabled, false);
  assert.equal((await api.call('DELETE', '/api/groups/staff', { as: me })).status, 422, 'bob is in it');
  assert.equal((await api.call('DELETE', '/api/users/bob', { as: me })).status, 200);
  assert.equal((await api.call('DELETE', '/api/groups/staff', { as: me })).status, 200);
  assert.equal((await api.call('GET', '/api/users/bob', { as: me })).status, 404);

  assert.equal((await api.call('POST', '/api/domains', { body: { name: 'example.org', route: { hosts: ['10.0.0.25:25'] } }, as: me })).status, 201);
  assert.equal((await api.call('PUT', '/api/domains/example.org', { body: { name: 'example.org', route: { hosts: ['10.0.0.26'] } }, as: me })).status, 200);
  assert.deepEqual((await api.call('GET', '/api/domains/example.org', { as: me })).json.route.hosts, ['10.0.0.26']);
  assert.equal((await api.call('DELETE', '/api/domains/example.org', { as: me })).status, 200);
  assert.equal((await api.call('DELETE', '/api/domains/example.org', { as: me })).status, 404);
  assert.equal((await api.call('DELETE', '/api/networks/nonexistent', { as: me })).status, 404);
});

test('revisions: list with authors, read one, diff two, roll back (a new revision with the old document)', async (t) => {
  const { api, me } = await session(t);
  await api.call('POST', '/api/networks', { body: { name: 'a', type: 'host', address: '10.0.0.1' }, as: me });
  await api.call('POST', '/api/networks', { body: { name: 'b', type: 'host', address: '10.0.0.2' }, as: me });
  const list = await api.call('GET', '/api/revisions', { as: me });
  assert.equal(list.json.active, 3);
  assert.deepEqual(list.json.revisions.map((r: { number: number; author: string }) => [r.number, r.author.split(':')[0]]), [[3, 'admin'], [2, 'admin'], [1, 'cli']]);
  const one = await api.call('GET', '/api/revisions/2', { as: me });
  assert.deepEqual(one.json.document.networks.map((n: { name: string }) => n.name), ['localhost', 'a']);
  const diff = await api.call('GET', '/api/revisions/1/diff/3', { as: me });
  assert.deepEqual(diff.json.changes.map((c: { path: string; op: string }) => [c.path, c.op]), [['networks["a"]', 'added'], ['networks["b"]', 'added']]);
  const back = await api.call('POST', '/api/revisions/1/rollback', { body: { comment: 'undo' }, as: me });
  assert.equal(back.status, 200);
  assert.equal(back.json.revision.number, 4);
  assert.deepEqual((await api.call('GET', '/api/networks', { as: me })).json.map((n: { name: string }) => n.name), ['localhost']);
  assert.equal((await api.call('POST', '/api/revisions/99/rollback', { body: {}, as: me })).status, 404);
  assert.equal((await api.call('POST', '/api/revisions/1/rollback', { body: { comment: 'x', extra: 1 }, as: me })).status, 400);
  assert.equal((await api.call('POST', '/api/revisions/2/rollback', { as: me })).status, 200, 'no body at all');
  assert.equal((await api.call('GET', '/api/revisions/x', { as: me })).status, 400);
});

test('queue: list, show, the message, hold/release/retry/bounce, delete; unknown ids 404', async (t) => {
  const { api, me, relay } = await session(t);
  const sent = await sendMessage(relay.ports.mx, { client: '127.0.0.2', from: 'a@outside.example', message: message('queued via API test') });
  const id = sent.id!;
  const list = await api.call('GET', '/api/queue', { as: me });
  assert.deepEqual(list.json.map((e: { id: string; state: string }) => [e.id, e.state]), [[id, 'queued']]);
  assert.equal((await api.call('GET', `/api/queue/${id}`, { as: me })).json.sender, 'a@outside.example');
  const raw = await api.call('GET', `/api/queue/${id}/message`, { as: me });
  assert.match(raw.text, /queued via API test/);
  assert.equal((await api.call('POST', `/api/queue/${id}/hold`, { as: me })).status, 200);
  assert.deepEqual((await api.call('GET', '/api/queue?state=held', { as: me })).json.map((e: { id: string }) => e.id), [id]);
  assert.deepEqual((await api.call('GET', '/api/queue?state=deferred', { as: me })).json, []);
  assert.equal((await api.call('POST', `/api/queue/${id}/release`, { as: me })).status, 200);
  assert.equal((await api.call('GET', `/api/queue/${id}`, { as: me })).json.state, 'queued');
  assert.equal((await api.call('POST', '/api/queue/retry', { as: me })).json.count, 0, 'nothing deferred');
  assert.equal((await api.call('DELETE', `/api/queue/${id}`, { as: me })).status, 200);
  assert.deepEqual((await api.call('GET', '/api/queue', { as: me })).json, []);
  assert.equal((await api.call('GET', `/api/queue/${id}`, { as: me })).status, 404);
  assert.equal((await api.call('POST', `/api/queue/${id}/hold`, { as: me })).status, 404);
  assert.equal((await api.call('GET', '/api/queue/not-an-id', { as: me })).status, 400);
  assert.equal((await api.call('GET', '/api/queue?state=lost', { as: me })).status, 400);
  const history = await api.call('GET', '/api/revisions', { as: me });
  assert.equal(history.json.revisions.length, 1, 'queue operations are not settings changes');
});

test('quarantine: list with the reason, release into the queue, delete', async (t) => {
  const { api, me, relay } = await session(t);
  // Two quarantined messages written the way the front end commits them.
  const spool = new Spool(relay.dataDir, memoryLogger());
  const ids: string[] = [];
  for (const n of [1, 2]) {
    const id = newQueueId();
    const w = spool.begin(id);
    await w.write(Buffer.from(`Subject: q${n}\r\n\r\nbody\r\n`));
    await w.commit(
      {
        version: 1,
        received_at: new Date().toISOString(),
        sender: `q${n}@outside.example`,
        recipients: [{ address: 'user@example.com', kind: 'inbound', rule: 'rule 5', status: 'queued' }],
        client: { address: '127.0.0.2', helo: 'x', user: null, tls: false, listener: 'mx' },
        relayed: false,
        revision: 1,
        body: '7bit',
        smtputf8: false,
        quarantine: { at: new Date().toISOString(), rule: 'antispam.spam_action', reason: 'spam score 9.0 >= spam_score 5.0' },
      },
      { area: 'quarantine' },
    );
    ids.push(id);
  }
  const list = await api.call('GET', '/api/quarantine', { as: me });
  assert.deepEqual(list.json.map((e: { id: string }) => e.id).sort(), [...ids].sort());
  assert.equal(list.json[0].quarantine.rule, 'antispam.spam_action');
  assert.match((await api.call('GET', `/api/quarantine/${ids[0]}/message`, { as: me })).text, /Subject: q1/);
  assert.equal((await api.call('POST', `/api/quarantine/${ids[0]}/release`, { as: me })).status, 200);
  assert.deepEqual((await api.call('GET', '/api/queue', { as: me })).json.map((e: { id: string }) => e.id), [ids[0]]);
  assert.equal((await api.call('DELETE', `/api/quarantine/${ids[1]}`, { as: me })).status, 200);
  assert.deepEqual((await api.call('GET', '/api/quarantine', { as: me })).json, []);
  assert.equal((await api.call('POST', `/api/quarantine/${ids[1]}/release`, { as: me })).status, 404);
});

test('policy explain and the open-relay test answer as the CLI does', async (t) => {
  const { api, me } = await session(t);
  const x = await api.call('POST', '/api/policy/explain', { body: { client: '192.0.2.9', to: 'victim@elsewhere.example' }, as: me });
  assert.equal(x.status, 200);
  assert.deepEqual([x.json.action, x.json.code, x.json.enhanced, x.json.rule], ['reject', 554, '5.7.1', 'rule 4']);
  assert.ok(x.json.trail.length > 0);
  const local = await api.call('POST', '/api/policy/explain', { body: { client: '192.0.2.9', from: '<a@b.example>', to: 'user@example.com' }, as: me });
  assert.deepEqual([local.json.action, local.json.kind], ['accept', 'inbound']);
  const battery = await api.call('POST', '/api/policy/open-relay-test', { body: { client: '192.0.2.9' }, as: me });
  assert.equal(battery.json.relayed, 0);
  assert.ok(battery.json.results.length >= 15);
  assert.equal((await api.call('POST', '/api/policy/explain', { body: { client: 'not-an-ip', to: 'a@b' }, as: me })).status, 400);
});

test('statistics count accepted and refused mail per minute and name the refused clients; the live log streams events', { timeout: 60_000 }, async (t) => {
  const { api, me, relay } = await session(t, { ...DOMAINS, networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1' }, { name: 'bad', type: 'host', address: '127.0.0.66' }], relaying: { allowed_hosts: ['localhost'], blacklist: ['bad'] } });
  // The live log first, so that it sees what follows.
  const events: { event: string; [k: string]: unknown }[] = [];
  let seen: (() => void) | null = null;
  const stream = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: api.port, path: '/api/log', ca: api.ca, headers: { cookie: me.cookie ?? '' } }, resolve);
    req.on('error', reject);
    req.end();
  });
  t.after(() => stream.destroy());
  assert.equal(stream.statusCode, 200);
  assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data) events.push(JSON.parse(data));
      seen?.();
    }
  });
  const sent = await sendMessage(relay.ports.mx, { client: '127.0.0.2', message: message('counted') });
  const c = await RawClient.connect(relay.ports.mx, '127.0.0.66');
  assert.match((await c.reply()) ?? '', /^554 /);
  c.end();
  await new Promise<void>((resolve) => {
    const check = () => {
      if (events.some((e) => e.event === 'queued' && e.id === sent.id) && events.some((e) => e.event === 'connect' && e.client === '127.0.0.66')) resolve();
    };
    seen = check;
    check();
  });
  // A reader who connects now gets the recent lines first.
  const late = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: api.port, path: '/api/log', ca: api.ca, headers: { cookie: me.cookie ?? '' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (text.includes(`"id":"${sent.id}"`)) {
          res.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
  assert.match(late, /"event":"queued"/);
  const stats = await api.call('GET', '/api/stats', { as: me });
  assert.equal(stats.json.per_minute.length, 60);
  const total = (k: string) => stats.json.per_minute.reduce((n: number, m: Record<string, number>) => n + (m[k] ?? 0), 0);
  assert.equal(total('accepted'), 1);
  assert.equal(total('refused'), 1);
  assert.deepEqual(stats.json.top_refused, [{ client: '127.0.0.66', count: 1 }]);
  const { oldest_age_s: age, ...queue } = stats.json.queue;
  assert.deepEqual(queue, { size: 1, deferred: 0, held: 0, quarantined: 0 });
  // The one message waits for delivery (off in this daemon) since it was sent moments ago.
  assert.ok(typeof age === 'number' && age >= 0 && age < 60, `oldest_age_s ${age}`);
  assert.equal(stats.json.open_relay, false);
  // A stop does not wait for a live-log reader that never hangs up.
  const ended = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  assert.equal(await relay.stop(), 0);
  await ended;
});
