// Every combination of the three relay switches (upstream-only, authenticated
// relay, host-based relay) crossed with every kind of client, user and
// recipient, compared against a small oracle written straight from the rule
// text of ARCHITECTURE.md (rules 1-4) without calling the code under test.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explain } from '../../src/checks/explain.ts';
import { assertNoInternalNames, FROM, relayDoc, row, snapshotOf, type Knobs, type Row } from './helpers.ts';

/** What each client is by construction of relayDoc's networks. */
interface ClientKind {
  name: string;
  ip: string;
  upstream: boolean;
  /** In allowed_hosts when host-based relay is set. */
  relayWhenSet: boolean;
  blacklisted: boolean;
  /** The object names the trail must show for the lists it is in. */
  upstreamObject?: string;
  relayObject?: string;
  blacklistObject?: string;
}

const CLIENTS: ClientKind[] = [
  { name: 'upstream host', ip: '192.0.2.10', upstream: true, relayWhenSet: false, blacklisted: false, upstreamObject: 'isp-feeder' },
  { name: 'relay host', ip: '10.1.2.3', upstream: false, relayWhenSet: true, blacklisted: false, relayObject: 'office-lan' },
  { name: 'relay host (v4-mapped)', ip: '::ffff:10.1.200.9', upstream: false, relayWhenSet: true, blacklisted: false, relayObject: 'office-lan' },
  { name: 'other', ip: '203.0.113.9', upstream: false, relayWhenSet: false, blacklisted: false },
  { name: 'other (IPv6)', ip: '2001:db8:77::9', upstream: false, relayWhenSet: false, blacklisted: false },
  { name: 'blacklisted other', ip: '198.51.100.7', upstream: false, relayWhenSet: false, blacklisted: true, blacklistObject: 'blackzone' },
  { name: 'blacklisted relay host', ip: '198.51.100.20', upstream: false, relayWhenSet: true, blacklisted: true, relayObject: 'relay-in-blackzone', blacklistObject: 'blackzone' },
  { name: 'blacklisted upstream host', ip: '198.51.100.10', upstream: true, relayWhenSet: false, blacklisted: true, upstreamObject: 'feeder-in-blackzone', blacklistObject: 'blackzone' },
];

/** Users of relayDoc: named directly, entitled by group, or neither. */
const USERS: { name: string | null; named: boolean; inNamedGroup: boolean; group?: string }[] = [
  { name: null, named: false, inNamedGroup: false },
  { name: 'alice', named: true, inNamedGroup: false },
  { name: 'gina', named: false, inNamedGroup: true, group: 'staff' },
  { name: 'bob', named: false, inNamedGroup: false },
];

const RECIPIENTS = [
  { to: 'someone@ours.example', local: true },
  { to: 'someone@remote.example', local: false },
];

interface Expected extends Row {
  right: 'host' | 'auth' | null;
}

/** The rule text, transcribed. */
function oracle(k: Knobs, c: ClientKind, user: (typeof USERS)[number], local: boolean): Expected {
  const relayHost = k.hostRelay && c.relayWhenSet;
  const upstreamOrRelay = c.upstream || relayHost;
  const refuse = (code: number, enhanced: string, stage: string, rule: string): Expected => ({ action: 'reject', code, enhanced, kind: null, stage, rule, right: null });
  // Rule 1: blacklisted and neither upstream nor relay host → refused at connect.
  if (c.blacklisted && !upstreamOrRelay) return refuse(554, '5.7.1', 'connect', 'rule 1');
  // Rule 2: upstream-only on and neither upstream nor relay host → refused at connect.
  if (k.upstreamOnly && !upstreamOrRelay) return refuse(554, '5.7.1', 'connect', 'rule 2');
  // AUTH: authenticated relay on and the user named, or in a named group; else 535.
  let entitled = false;
  if (user.name !== null) {
    entitled = k.authRelay && (user.named || user.inNamedGroup);
    if (!entitled) return refuse(535, '5.7.8', 'auth', 'rule 4');
  }
  // Rule 3: local domain → inbound.
  if (local) return { action: 'accept', code: 250, enhanced: '2.1.5', kind: 'inbound', stage: 'rcpt', rule: 'rule 3', right: relayHost ? 'host' : entitled ? 'auth' : null };
  // Rule 4: elsewhere → only with a relay right; upstream gives none.
  if (relayHost) return { action: 'accept', code: 250, enhanced: '2.1.5', kind: 'relay', stage: 'rcpt', rule: 'rule 4', right: 'host' };
  if (entitled) return { action: 'accept', code: 250, enhanced: '2.1.5', kind: 'relay', stage: 'rcpt', rule: 'rule 4', right: 'auth' };
  return refuse(554, '5.7.1', 'rcpt', 'rule 4');
}

const KNOBS: Knobs[] = [];
for (const upstreamOnly of [false, true]) for (const authRelay of [false, true]) for (const hostRelay of [false, true]) KNOBS.push({ upstreamOnly, authRelay, hostRelay });

for (const k of KNOBS) {
  const label = `upstream_only=${k.upstreamOnly ? 'on' : 'off'} auth_relay=${k.authRelay ? 'on' : 'off'} allowed_hosts=${k.hostRelay ? 'set' : 'empty'}`;
  describe(label, () => {
    const snap = snapshotOf(relayDoc(k));
    for (const c of CLIENTS) {
      for (const u of USERS) {
        for (const r of RECIPIENTS) {
          const want = oracle(k, c, u, r.local);
          it(`${c.name} ${c.ip} user=${u.name ?? '-'} rcpt=${r.to} → ${want.action} ${want.code} ${want.stage} ${want.rule}`, () => {
            const e = explain(snap, { client: c.ip, user: u.name, from: FROM, to: r.to });
            const d = e.decision;
            assert.deepEqual(row(d), { action: want.action, code: want.code, enhanced: want.enhanced, kind: want.kind, stage: want.stage, rule: want.rule }, d.trail.join('\n'));
            assert.equal(e.relayRight, want.right, 'relay right');
            // The deciding step is the last one, and the steps stop at the first refusal.
            assert.equal(e.steps[e.steps.length - 1]?.stage, want.stage);
            const stages = e.steps.map((s) => s.stage);
            const path = ['connect', ...(u.name !== null ? ['auth'] : []), 'mail', 'rcpt'];
            assert.deepEqual(stages, path.slice(0, path.indexOf(want.stage) + 1));
            // The trail names the deciding rule and what matched.
            assert.ok(d.trail.some((l) => l.includes(want.rule)), `trail names ${want.rule}:\n${d.trail.join('\n')}`);
            const joined = d.trail.join('\n');
            assert.ok(joined.includes(c.ip), 'trail names the client');
            if (c.blacklisted && c.blacklistObject) assert.ok(joined.includes(`"${c.blacklistObject}"`), `trail names the blacklist entry:\n${joined}`);
            if (c.upstream && c.upstreamObject) assert.ok(joined.includes(`"${c.upstreamObject}"`), `trail names the upstream entry:\n${joined}`);
            if (k.hostRelay && c.relayWhenSet && c.relayObject) assert.ok(joined.includes(`"${c.relayObject}"`), `trail names the relay host entry:\n${joined}`);
            if (!k.hostRelay && c.relayObject && !c.blacklisted) assert.ok(!joined.includes(`"${c.relayObject}"`), 'no relay entry when allowed_hosts is empty');
            if (want.stage === 'rcpt' && want.right === 'auth' && u.group) assert.ok(joined.includes(`"${u.group}"`), 'trail names the group that entitled the user');
            if (want.action === 'reject') {
              assertNoInternalNames(d);
              if (want.stage === 'rcpt') assert.equal(d.text, 'Relaying denied');
            }
          });
        }
      }
    }
  });
}

describe('oracle sanity: the matrix covers each outcome', () => {
  it('every outcome of the rule text occurs in some row', () => {
    const seen = new Set<string>();
    for (const k of KNOBS) for (const c of CLIENTS) for (const u of USERS) for (const r of RECIPIENTS) {
      const w = oracle(k, c, u, r.local);
      seen.add(`${w.action} ${w.stage} ${w.rule} ${w.kind ?? '-'} ${w.right ?? '-'}`);
    }
    for (const outcome of [
      'reject connect rule 1 - -', 'reject connect rule 2 - -', 'reject auth rule 4 - -', 'reject rcpt rule 4 - -',
      'accept rcpt rule 3 inbound -', 'accept rcpt rule 3 inbound host', 'accept rcpt rule 3 inbound auth',
      'accept rcpt rule 4 relay host', 'accept rcpt rule 4 relay auth',
    ]) assert.ok(seen.has(outcome), outcome);
  });
});
