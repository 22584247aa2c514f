// previewImpact() (src/preview/preview.ts): the window of days it reads, the
// tuple limit, a tracking store that does not answer, the bounds on days; and
// the directory users among the recorded logins looked up in a real slapd
// (found, unknown) and in a directory that accepts the connection and never
// answers (not replayed, within the deadline).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { checkDays, previewImpact, TrackingUnavailable } from '../../src/preview/preview.ts';
import { lookUpLogins } from '../../src/preview/identities.ts';
import { LdapDirectories } from '../../src/directory/ldap-directories.ts';
import type { DecisionTuple, TrackingReader } from '../../src/tracking/tracking-reader.ts';
import { BASE_DN, READER_DN, READER_PASSWORD, slapdMissing, startSlapd } from '../support/slapd.ts';
import { BASE, changed, snapshotOf, T0, TRAFFIC, tuple, TupleReader } from './helpers.ts';

const DAY = 86_400_000;
const NOW = T0 + 2 * 3_600_000;
const tight = snapshotOf(changed((d) => (d.relaying.allowed_hosts = ['printer-2'])));

describe('previewImpact', () => {
  it('reads the last N days up to now, with the tuple limit, and reports the window', async () => {
    const reader = new TupleReader(TRAFFIC);
    const p = await previewImpact(BASE, tight, 3, { tracking: () => reader, directories: null, now: () => NOW, limit: 500 });
    assert.deepEqual(reader.asked, [{ since: NOW - 3 * DAY, until: NOW, limit: 500 }]);
    assert.equal(p.days, 3);
    assert.equal(p.since, new Date(NOW - 3 * DAY).toISOString());
    assert.equal(p.until, new Date(NOW).toISOString());
    assert.equal(p.recorded.limit, 500);
    assert.deepEqual(p.would_now_refuse.map((g) => g.client), ['10.1.5.5']);
  });

  it('decisions older than the window are not read', async () => {
    const old = tuple({ client: '10.1.5.7', first: T0 - 10 * DAY, last: T0 - 9 * DAY, count: 50 });
    const p = await previewImpact(BASE, tight, 7, { tracking: () => new TupleReader([...TRAFFIC, old]), directories: null, now: () => NOW });
    assert.ok(!p.would_now_refuse.some((g) => g.client === '10.1.5.7'));
    const p30 = await previewImpact(BASE, tight, 30, { tracking: () => new TupleReader([...TRAFFIC, old]), directories: null, now: () => NOW });
    assert.ok(p30.would_now_refuse.some((g) => g.client === '10.1.5.7' && g.rcpts === 50));
  });

  it('the limit reached: truncated, the most frequent kept', async () => {
    const p = await previewImpact(BASE, tight, 7, { tracking: () => new TupleReader(TRAFFIC), directories: null, now: () => NOW, limit: 2 });
    assert.equal(p.recorded.tuples, 2);
    assert.equal(p.recorded.truncated, true);
    assert.equal(p.recorded.rcpts, 130 + 40);
  });

  it('a store that does not answer, or cannot be opened: TrackingUnavailable with its reason', async () => {
    const down: TrackingReader = {
      decisions: () => Promise.reject(new Error('database is locked')),
      top: () => Promise.reject(new Error('database is locked')),
    };
    await assert.rejects(previewImpact(BASE, tight, 7, { tracking: () => down, directories: null }), (err: unknown) => err instanceof TrackingUnavailable && /database is locked/.test(err.message));
    // One that cannot even be opened: the same.
    const unopenable = () => {
      throw new Error('unable to open database file');
    };
    await assert.rejects(previewImpact(BASE, tight, 7, { tracking: unopenable, directories: null }), (err: unknown) => err instanceof TrackingUnavailable && /unable to open/.test(err.message));
  });

  it('days: whole numbers from 1 to 90', async () => {
    for (const d of [1, 7, 90]) assert.equal(checkDays(d), null);
    for (const d of [0, -1, 91, 1.5, Number.NaN]) assert.match(checkDays(d) ?? '', /from 1 to 90/);
    await assert.rejects(previewImpact(BASE, tight, 0, { tracking: () => new TupleReader([]), directories: null }), RangeError);
  });

  it('a large window is replayed in slices: the event loop gets turns while it runs', async () => {
    const many: DecisionTuple[] = Array.from({ length: 6000 }, (_, i) => tuple({ client: `10.1.${(i >> 8) & 255}.${i & 255}`, recipient: `r${i}@remote.example`, count: 1 }));
    let turns = 0;
    const ticker = setInterval(() => turns++, 1);
    const started = performance.now();
    const p = await previewImpact(BASE, tight, 7, { tracking: () => new TupleReader(many), directories: null, now: () => NOW });
    const took = performance.now() - started;
    clearInterval(ticker);
    assert.equal(p.recorded.tuples, 6000);
    assert.equal(p.totals.replayed_rcpts, 6000);
    // Each slice is a few ms: a replay that never yielded would give the timer no turn at all.
    assert.ok(turns >= Math.floor(took / 50), `timer ran ${turns} times in ${took.toFixed(0)} ms`);
    assert.ok(turns > 0);
  });
});

describe('directory users in the recordings', { skip: slapdMissing() }, () => {
  it('looked up in the real directory: found with its groups, unknown as nobody; the change to a directory group is seen', async (t) => {
    const slapd = await startSlapd(t);
    const dir = { name: 'corp', url: slapd.url, ca: slapd.caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD };
    const withGroups = (groups: string[]) => snapshotOf(changed((d) => {
      d.directories = [dir];
      d.relaying.authenticated_relay.groups = groups;
    }));
    const active = withGroups(['corp:relay-users']);
    const candidate = withGroups([]);
    const directories = new LdapDirectories();
    t.after(() => directories.close());
    const answers = await lookUpLogins(active, ['carol', 'nobody'], directories, { deadline: Date.now() + 10_000 });
    const carol = answers.get('carol');
    assert.ok(carol && 'found' in carol && carol.found, JSON.stringify(carol));
    assert.ok(carol.found.groups.includes('corp:relay-users'), JSON.stringify(carol.found.groups));
    assert.deepEqual(answers.get('nobody'), { found: null });

    const recorded = [tuple({ client: '203.0.113.60', user: 'carol', sender: 'carol@example.test', count: 5 })];
    const p = await previewImpact(active, candidate, 7, { tracking: () => new TupleReader(recorded), directories, now: () => NOW });
    assert.deepEqual(p.would_now_refuse.map((g) => [g.client, g.users, g.rules[0]?.after.stage, g.rules[0]?.after.code]), [['203.0.113.60', ['carol'], 'auth', 535]]);
  });

  it('a directory that accepts and never answers: not replayed, within the deadline; beyond the cap: not looked up', async (t) => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    t.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const snap = snapshotOf(changed((d) => (d.directories = [{ name: 'corp', url: `ldap://127.0.0.1:${port}`, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD, tls: 'none' }])));
    const directories = new LdapDirectories();
    t.after(() => directories.close());
    const started = Date.now();
    const answers = await lookUpLogins(snap, ['kim', 'lee', 'max'], directories, { deadline: started + 1_500, max: 2 });
    assert.ok(Date.now() - started < 5_000, 'the deadline holds');
    for (const l of ['kim', 'lee']) {
      const a = answers.get(l);
      assert.ok(a && 'error' in a && /did not answer/.test(a.error), JSON.stringify(a));
    }
    assert.deepEqual(answers.get('max'), { error: 'not looked up: more than 2 distinct directory users' });
    // Without a directory client nobody is asked.
    assert.deepEqual(await lookUpLogins(snap, ['kim'], null, { deadline: Date.now() + 1000 }), new Map([['kim', { error: 'no directory client to ask' }]]));
  });
});
