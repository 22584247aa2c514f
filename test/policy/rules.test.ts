// Relay rules 1-6 (ARCHITECTURE.md "Relay rules") as transcripts in the
// spirit of Postfix's smtpd_check.in / .ref: settings, client, user and
// recipient in; action, code, enhanced status, kind, stage and rule out.
// Every expected value below is written by hand from the rule text.

import { localIdentity } from '../../src/policy/identity.ts';
import type { Snapshot } from '../../src/config/snapshot.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideAuth, decideConnect, decideRecipient, decideSender, classifyClient, type TransactionFacts } from '../../src/policy/rules.ts';
import { explain } from '../../src/checks/explain.ts';
import { validate } from '../../src/config/validate.ts';
import { replyLine } from '../../src/core/decision.ts';
import { assertNoInternalNames, client, expect, FROM, relayDoc, row, snapshotOf, type Knobs } from './helpers.ts';

const A: Knobs = { upstreamOnly: false, authRelay: true, hostRelay: true };
const B: Knobs = { upstreamOnly: true, authRelay: true, hostRelay: true };
const C: Knobs = { upstreamOnly: false, authRelay: false, hostRelay: false };
const D: Knobs = { upstreamOnly: true, authRelay: true, hostRelay: false };
const snaps = { A: snapshotOf(relayDoc(A)), B: snapshotOf(relayDoc(B)), C: snapshotOf(relayDoc(C)), D: snapshotOf(relayDoc(D)) };

const UPSTREAM = '192.0.2.10';
const RELAY = '10.1.2.3';
const OTHER = '203.0.113.9';
const BLACK = '198.51.100.7';
const BLACK_RELAY = '198.51.100.20';
const BLACK_UPSTREAM = '198.51.100.10';

/** A user's facts are read from the snapshot the rules are asked about, as the daemon's AUTH reads them. */
function facts(ip: string, user: string | null = null, snap: Snapshot | null = null): TransactionFacts {
  if (user !== null && snap === null) throw new Error('facts: a user needs the snapshot it is read from');
  return { client: client(ip), listener: null, user: user === null || snap === null ? null : localIdentity(snap, user) };
}

describe('rule 1: the blacklist, at connect', () => {
  it('refuses a blacklisted client that is neither upstream nor relay host: 554 5.7.1 at connect', () => {
    const d = decideConnect(snaps.A, client(BLACK));
    assert.deepEqual(row(d), expect('reject 554 5.7.1 - connect rule 1'));
    assert.ok(d.trail.some((l) => l.includes('rule 1')), d.trail.join('\n'));
    assert.ok(d.trail.some((l) => l.includes('"blackzone"')), 'the trail names the blacklist entry that matched');
    assertNoInternalNames(d);
  });

  it('keeps an explicitly allowed relay host inside the blocked network allowed', () => {
    const d = decideConnect(snaps.A, client(BLACK_RELAY));
    assert.equal(d.action, 'accept');
    assert.equal(d.code, 220);
    assert.equal(d.stage, 'connect');
    assert.ok(d.trail.some((l) => l.includes('"relay-in-blackzone"')));
  });

  it('keeps an upstream host inside the blocked network allowed', () => {
    const d = decideConnect(snaps.A, client(BLACK_UPSTREAM));
    assert.equal(d.action, 'accept');
    assert.equal(d.code, 220);
  });

  it('once the relay host entry is gone, the same address is refused', () => {
    assert.deepEqual(row(decideConnect(snaps.C, client(BLACK_RELAY))), expect('reject 554 5.7.1 - connect rule 1'));
  });

  it('accepts a client in no list when upstream-only is off', () => {
    const d = decideConnect(snaps.A, client(OTHER));
    assert.equal(d.action, 'accept');
    assert.equal(d.code, 220);
  });

  it('validation lists every allowed/upstream host inside a blacklisted network as a warning', () => {
    const v = validate(relayDoc(A));
    const overlaps = v.warnings.filter((w) => w.path.startsWith('relaying.blacklist'));
    assert.equal(overlaps.length, 2, JSON.stringify(v.warnings));
    assert.ok(overlaps.some((w) => w.message.includes('relay-in-blackzone')));
    assert.ok(overlaps.some((w) => w.message.includes('feeder-in-blackzone')));
    assert.ok(!overlaps.some((w) => w.message.includes('"office-lan"') || w.message.includes('"isp-feeder"')));
  });
});

describe('rule 2: upstream/relay hosts only, at connect', () => {
  it('refuses a client that is neither upstream nor relay host', () => {
    const d = decideConnect(snaps.B, client(OTHER));
    assert.deepEqual(row(d), expect('reject 554 5.7.1 - connect rule 2'));
    assert.ok(d.trail.some((l) => l.includes('rule 2')));
    assertNoInternalNames(d);
  });

  it('accepts upstream hosts and relay hosts', () => {
    for (const ip of [UPSTREAM, RELAY, BLACK_RELAY, BLACK_UPSTREAM]) {
      const d = decideConnect(snaps.B, client(ip));
      assert.equal(d.action, 'accept', ip);
      assert.equal(d.code, 220, ip);
    }
  });

  it('with no relay hosts, a former relay-host address is refused', () => {
    assert.deepEqual(row(decideConnect(snaps.D, client(RELAY))), expect('reject 554 5.7.1 - connect rule 2'));
  });

  it('so an entitled user authenticating from elsewhere is refused before AUTH', () => {
    const e = explain(snaps.B, { client: OTHER, user: 'alice', from: FROM, to: 'x@remote.example' });
    assert.deepEqual(row(e.decision), expect('reject 554 5.7.1 - connect rule 2'));
    assert.equal(e.steps.length, 1, 'nothing after the refused connect is asked');
  });

  it('the same user from an upstream host relays', () => {
    const e = explain(snaps.B, { client: UPSTREAM, user: 'alice', from: FROM, to: 'x@remote.example' });
    assert.deepEqual(row(e.decision), expect('accept 250 2.1.5 relay rcpt rule 4'));
    assert.equal(e.relayRight, 'auth');
  });
});

describe('rule 3: a local domain is inbound from anyone not refused', () => {
  it('accepts a local recipient from a client with no rights: 250 2.1.5 inbound', () => {
    const d = decideRecipient(snaps.A, facts(OTHER), 'someone@ours.example');
    assert.deepEqual(row(d), expect('accept 250 2.1.5 inbound rcpt rule 3'));
    assert.ok(d.trail.some((l) => l.includes('rule 3') && l.includes('ours.example')));
  });

  it('compares domains case-insensitively and ignores one trailing dot', () => {
    for (const rcpt of ['someone@OURS.EXAMPLE', 'someone@ours.example.', 'someone@Ours.Example.', 'someone@second.example', 'someone@SECOND.EXAMPLE.']) {
      assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), rcpt)), expect('accept 250 2.1.5 inbound rcpt rule 3'), rcpt);
    }
  });

  it('a sub- or superdomain of a local domain is not local', () => {
    for (const rcpt of ['someone@sub.ours.example', 'someone@example', 'someone@ours.example.evil.example', 'someone@xours.example']) {
      assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), rcpt)), expect('reject 554 5.7.1 - rcpt rule 4'), rcpt);
    }
  });

  it('an address literal is never local, even of a local server', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), 'someone@[10.1.0.25]')), expect('reject 554 5.7.1 - rcpt rule 4'));
  });

  it('an internationalised local domain is local in both its U-label and A-label spelling', () => {
    // bücher.example and xn--bcher-kva.example are one DNS name (RFC 5890);
    // senders without SMTPUTF8 always write the A-label form.
    for (const configured of ['bücher.example', 'xn--bcher-kva.example']) {
      const doc = relayDoc(A);
      doc.domains = [{ name: configured, route: { hosts: ['10.1.0.25:25'] } }];
      const snap = snapshotOf(doc);
      for (const rcpt of ['someone@bücher.example', 'someone@xn--bcher-kva.example', 'someone@XN--BCHER-KVA.EXAMPLE.']) {
        assert.deepEqual(row(decideRecipient(snap, facts(OTHER), rcpt)), expect('accept 250 2.1.5 inbound rcpt rule 3'), `configured ${configured}, rcpt ${rcpt}`);
        assert.deepEqual(row(decideRecipient(snap, facts(RELAY), rcpt)), expect('accept 250 2.1.5 inbound rcpt rule 3'), `relay host: configured ${configured}, rcpt ${rcpt}`);
      }
    }
  });

  it('a relay host sending to a local domain is still inbound, not relay', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(RELAY), 'someone@ours.example')), expect('accept 250 2.1.5 inbound rcpt rule 3'));
  });
});

describe('rule 4: relaying needs a relay host or an entitled authenticated user', () => {
  it('refuses a remote recipient from a client with no right: 554 5.7.1 Relaying denied', () => {
    const d = decideRecipient(snaps.A, facts(OTHER), 'someone@remote.example');
    assert.deepEqual(row(d), expect('reject 554 5.7.1 - rcpt rule 4'));
    assert.equal(replyLine(d), '554 5.7.1 Relaying denied');
    assertNoInternalNames(d);
  });

  it('relays for a relay host (host-based relay), naming the object in the trail', () => {
    const d = decideRecipient(snaps.A, facts(RELAY), 'someone@remote.example');
    assert.deepEqual(row(d), expect('accept 250 2.1.5 relay rcpt rule 4'));
    assert.ok(d.trail.some((l) => l.includes('"office-lan"')), d.trail.join('\n'));
  });

  it('gives an upstream host no relay right by its address', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(UPSTREAM), 'someone@remote.example')), expect('reject 554 5.7.1 - rcpt rule 4'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(BLACK_UPSTREAM), 'someone@remote.example')), expect('reject 554 5.7.1 - rcpt rule 4'));
  });

  it('relays for a user named in authenticated relay and for a member of a named group', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER, 'alice', snaps.A), 'someone@remote.example')), expect('accept 250 2.1.5 relay rcpt rule 4'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER, 'gina', snaps.A), 'someone@remote.example')), expect('accept 250 2.1.5 relay rcpt rule 4'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(UPSTREAM, 'gina', snaps.A), 'someone@remote.example')), expect('accept 250 2.1.5 relay rcpt rule 4'));
  });

  it('a user not named, a disabled user, an unknown user, or any user with authenticated relay off gets no right', () => {
    for (const u of ['bob', 'dave', 'mallory']) {
      assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER, u, snaps.A), 'someone@remote.example')), expect('reject 554 5.7.1 - rcpt rule 4'), u);
    }
    for (const u of ['alice', 'gina']) {
      assert.deepEqual(row(decideRecipient(snaps.C, facts(OTHER, u, snaps.C), 'someone@remote.example')), expect('reject 554 5.7.1 - rcpt rule 4'), u);
    }
  });

  it('with allowed_hosts empty, the former relay host is refused', () => {
    assert.deepEqual(row(decideRecipient(snaps.C, facts(RELAY), 'someone@remote.example')), expect('reject 554 5.7.1 - rcpt rule 4'));
  });
});

describe('decideAuth: who may authenticate for relaying', () => {
  const ok = expect('accept 235 2.7.0 - auth rule 4');
  const refused = expect('reject 535 5.7.8 - auth rule 4');

  it('accepts a user named in authenticated relay, naming the setting', () => {
    const d = decideAuth(snaps.A, 'alice');
    assert.deepEqual(row(d), ok);
    assert.ok(d.trail.some((l) => l.includes('authenticated_relay.users')));
  });

  it('accepts a member of a named group, naming the group', () => {
    const d = decideAuth(snaps.A, 'gina');
    assert.deepEqual(row(d), ok);
    assert.ok(d.trail.some((l) => l.includes('"staff"')), d.trail.join('\n'));
  });

  it('refuses unknown, disabled and not-named users alike: 535 5.7.8, same text', () => {
    const ds = ['mallory', 'dave', 'bob'].map((u) => decideAuth(snaps.A, u));
    for (const d of ds) {
      assert.deepEqual(row(d), refused);
      assertNoInternalNames(d);
    }
    assert.equal(new Set(ds.map(replyLine)).size, 1, 'a client cannot tell which names exist');
  });

  it('refuses everyone when authenticated relay is off', () => {
    for (const u of ['alice', 'gina']) assert.deepEqual(row(decideAuth(snaps.C, u)), refused, u);
  });

  it('user names are compared exactly', () => {
    assert.deepEqual(row(decideAuth(snaps.A, 'Alice')), refused);
    assert.deepEqual(row(decideAuth(snaps.A, 'alice ')), refused);
  });

  it('a directory user relays through its groups only: a local name in the users list gives it nothing', () => {
    const dirUser = (groups: string[]) => ({ name: 'alice', directory: 'corp', enabled: true, groups, addresses: [] });
    // "alice" is named in authenticated_relay.users, but that is the local alice, not corp's.
    const d = decideAuth(snaps.A, dirUser([]));
    assert.deepEqual(row(d), refused);
    assert.ok(d.trail[0]?.includes('directory "corp"'), d.trail.join('\n'));
    // A local group name held by the directory user (the directory's groups are spelled corp:name) is the local group.
    assert.deepEqual(row(decideAuth(snaps.A, dirUser(['staff']))), ok);
    assert.deepEqual(row(decideAuth(snaps.A, dirUser(['corp:staff']))), refused);
    assert.deepEqual(row(decideAuth(snaps.A, { ...dirUser(['staff']), enabled: false })), refused);
  });
});

describe('rule 5: routing operators and source routes', () => {
  const refused = expect('reject 554 5.7.1 - rcpt rule 5');

  it('refuses %, !, quoted @ and two @ from a client with no relay right, even to a local domain', () => {
    for (const rcpt of ['someone%remote.example@ours.example', 'remote.example!someone@ours.example', '"someone@remote.example"@ours.example', 'someone@remote.example@ours.example']) {
      const d = decideRecipient(snaps.A, facts(OTHER), rcpt);
      assert.deepEqual(row(d), refused, rcpt);
      assert.ok(d.trail.some((l) => l.includes('rule 5')), rcpt);
      assert.equal(d.text, 'Relaying denied');
    }
  });

  it('an upstream host has no relay right, so it is refused too', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(UPSTREAM), 'someone%remote.example@ours.example')), refused);
  });

  it('a user who is not entitled has no relay right either', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER, 'bob', snaps.A), 'someone%remote.example@ours.example')), refused);
  });

  it('a relay host or an entitled user may use them; the address is then judged by its domain', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(RELAY), 'someone%remote.example@ours.example')), expect('accept 250 2.1.5 inbound rcpt rule 3'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER, 'alice', snaps.A), 'remote.example!someone@ours.example')), expect('accept 250 2.1.5 inbound rcpt rule 3'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(RELAY), 'someone%ours.example@remote.example')), expect('accept 250 2.1.5 relay rcpt rule 4'));
  });

  it('reduces a source route to its final address before deciding', () => {
    const inbound = decideRecipient(snaps.A, facts(OTHER), '@remote.example:someone@ours.example');
    assert.deepEqual(row(inbound), expect('accept 250 2.1.5 inbound rcpt rule 3'));
    assert.ok(inbound.trail.some((l) => l.includes('rule 5') && l.includes('someone@ours.example')), inbound.trail.join('\n'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), '@ours.example,@second.example:someone@remote.example')), expect('reject 554 5.7.1 - rcpt rule 4'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), '<@ours.example:someone@remote.example>')), expect('reject 554 5.7.1 - rcpt rule 4'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(RELAY), '@ours.example:someone@remote.example')), expect('accept 250 2.1.5 relay rcpt rule 4'));
  });
});

describe('rule 6: <postmaster>', () => {
  it('is accepted as local from a client with no rights, in any case, with or without brackets', () => {
    for (const rcpt of ['<postmaster>', 'postmaster', 'Postmaster', '<POSTMASTER>']) {
      const d = decideRecipient(snaps.A, facts(OTHER), rcpt);
      assert.deepEqual(row(d), expect('accept 250 2.1.5 inbound rcpt rule 6'), rcpt);
      assert.ok(d.trail.some((l) => l.includes('rule 6')));
    }
  });

  it('is accepted even with no local domain configured', () => {
    const doc = relayDoc(A);
    doc.domains = [];
    const snap = snapshotOf(doc);
    assert.deepEqual(row(decideRecipient(snap, facts(OTHER), '<postmaster>')), expect('accept 250 2.1.5 inbound rcpt rule 6'));
    assert.deepEqual(row(decideRecipient(snap, facts(OTHER), 'someone@ours.example')), expect('reject 554 5.7.1 - rcpt rule 4'));
  });

  it('postmaster at a remote domain is an ordinary remote address', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), 'postmaster@remote.example')), expect('reject 554 5.7.1 - rcpt rule 4'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), 'postmaster@ours.example')), expect('accept 250 2.1.5 inbound rcpt rule 3'));
  });
});

describe('decideSender', () => {
  it('accepts a valid sender and the null sender', () => {
    for (const s of [FROM, '<>', `<${FROM}>`]) assert.deepEqual(row(decideSender(snaps.A, facts(OTHER), s)), expect('accept 250 2.1.0 - mail syntax'), s);
  });

  it('refuses a malformed sender with 501 5.1.7', () => {
    for (const s of ['not an address', 'sender@', '@sender.example', 'sender@@sender.example', '<sender@sender.example']) {
      assert.deepEqual(row(decideSender(snaps.A, facts(OTHER), s)), expect('reject 501 5.1.7 - mail syntax'), s);
    }
  });

  it('on the wire, brackets are required', () => {
    assert.equal(decideSender(snaps.A, facts(OTHER), FROM, { wire: true }).action, 'reject');
    assert.equal(decideSender(snaps.A, facts(OTHER), `<${FROM}>`, { wire: true }).action, 'accept');
  });

  it('a submission listener wants AUTH before MAIL: 530 5.7.0', () => {
    const sub = snaps.A.listeners.get('port587-listener') ?? null;
    assert.ok(sub);
    const d = decideSender(snaps.A, { client: client(RELAY), listener: sub, user: null }, FROM);
    assert.deepEqual(row(d), expect('reject 530 5.7.0 - mail submission'));
    assertNoInternalNames(d);
    assert.equal(decideSender(snaps.A, { client: client(RELAY), listener: sub, user: localIdentity(snaps.A, 'alice') }, FROM).action, 'accept');
  });
});

describe('decideRecipient: syntax', () => {
  it('refuses a malformed recipient with 501 5.1.3, also from a relay host', () => {
    for (const ip of [OTHER, RELAY]) {
      for (const rcpt of ['someone@', 'someone@exa mple.example', 'someone@-bad-.example', '<someone@ours.example', '<>', '']) {
        assert.deepEqual(row(decideRecipient(snaps.A, facts(ip), rcpt)), expect('reject 501 5.1.3 - rcpt syntax'), `${ip} ${JSON.stringify(rcpt)}`);
      }
    }
  });

  it('on the wire, brackets are required', () => {
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), 'someone@ours.example', { wire: true })), expect('reject 501 5.1.3 - rcpt syntax'));
    assert.deepEqual(row(decideRecipient(snaps.A, facts(OTHER), '<someone@ours.example>', { wire: true })), expect('accept 250 2.1.5 inbound rcpt rule 3'));
  });
});

describe('classifyClient', () => {
  it('names the entry of each list that matched', () => {
    assert.deepEqual(classifyClient(snaps.A, client(BLACK_RELAY).ip), { upstream: null, relayHost: '"relay-in-blackzone"', blacklisted: '"blackzone"' });
    assert.deepEqual(classifyClient(snaps.A, client(BLACK_UPSTREAM).ip), { upstream: '"feeder-in-blackzone"', relayHost: null, blacklisted: '"blackzone"' });
    assert.deepEqual(classifyClient(snaps.A, client(OTHER).ip), { upstream: null, relayHost: null, blacklisted: null });
  });
});

// The hand-written transcript: settings, client, user, recipient → the final
// answer of the whole transaction (connect, AUTH, MAIL, RCPT).
// Settings: A = upstream-only off, auth relay on, host relay on;
// B = upstream-only on, both relays on; C = everything off;
// D = upstream-only on, auth relay on, no relay hosts.
const TRANSCRIPT: [keyof typeof snaps, string, string | null, string, string][] = [
  ['A', OTHER, null, 'x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', OTHER, null, 'x@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['A', RELAY, null, 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['A', RELAY, null, 'x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', UPSTREAM, null, 'x@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['A', UPSTREAM, 'alice', 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['A', UPSTREAM, null, 'x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', BLACK, null, 'x@ours.example', 'reject 554 5.7.1 - connect rule 1'],
  ['A', BLACK, 'alice', 'x@remote.example', 'reject 554 5.7.1 - connect rule 1'],
  ['A', BLACK_RELAY, null, 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['A', BLACK_UPSTREAM, null, 'x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', BLACK_UPSTREAM, null, 'x@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['A', OTHER, 'alice', 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['A', OTHER, 'gina', 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['A', OTHER, 'bob', 'x@remote.example', 'reject 535 5.7.8 - auth rule 4'],
  ['A', OTHER, 'dave', 'x@ours.example', 'reject 535 5.7.8 - auth rule 4'],
  ['A', OTHER, 'mallory', 'x@ours.example', 'reject 535 5.7.8 - auth rule 4'],
  ['A', RELAY, 'bob', 'x@remote.example', 'reject 535 5.7.8 - auth rule 4'],
  ['B', OTHER, null, 'x@ours.example', 'reject 554 5.7.1 - connect rule 2'],
  ['B', OTHER, 'alice', 'x@remote.example', 'reject 554 5.7.1 - connect rule 2'],
  ['B', UPSTREAM, 'alice', 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['B', UPSTREAM, null, 'x@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['B', UPSTREAM, null, 'x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['B', RELAY, null, 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['B', BLACK, 'alice', 'x@remote.example', 'reject 554 5.7.1 - connect rule 1'],
  ['B', BLACK_RELAY, null, 'x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['B', BLACK_UPSTREAM, 'gina', 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['C', RELAY, null, 'x@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['C', RELAY, 'alice', 'x@remote.example', 'reject 535 5.7.8 - auth rule 4'],
  ['C', BLACK_RELAY, null, 'x@ours.example', 'reject 554 5.7.1 - connect rule 1'],
  ['C', OTHER, null, 'x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['C', UPSTREAM, null, 'x@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['D', RELAY, null, 'x@ours.example', 'reject 554 5.7.1 - connect rule 2'],
  ['D', UPSTREAM, 'gina', 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['D', BLACK_UPSTREAM, 'gina', 'x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['D', BLACK_RELAY, 'alice', 'x@remote.example', 'reject 554 5.7.1 - connect rule 1'],
  ['D', UPSTREAM, 'bob', 'x@ours.example', 'reject 535 5.7.8 - auth rule 4'],
  ['A', OTHER, null, 'x@OURS.EXAMPLE.', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', OTHER, null, 'x@second.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', OTHER, null, '<postmaster>', 'accept 250 2.1.5 inbound rcpt rule 6'],
  ['A', OTHER, null, 'PostMaster', 'accept 250 2.1.5 inbound rcpt rule 6'],
  ['A', OTHER, null, 'postmaster@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['A', OTHER, null, 'x%remote.example@ours.example', 'reject 554 5.7.1 - rcpt rule 5'],
  ['A', RELAY, null, 'x%remote.example@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', OTHER, 'alice', 'x%remote.example@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', UPSTREAM, null, 'x%remote.example@ours.example', 'reject 554 5.7.1 - rcpt rule 5'],
  ['A', OTHER, null, 'remote.example!x@ours.example', 'reject 554 5.7.1 - rcpt rule 5'],
  ['A', OTHER, null, '"x@remote.example"@ours.example', 'reject 554 5.7.1 - rcpt rule 5'],
  ['A', OTHER, null, 'x@remote.example@ours.example', 'reject 554 5.7.1 - rcpt rule 5'],
  ['A', OTHER, null, '@remote.example:x@ours.example', 'accept 250 2.1.5 inbound rcpt rule 3'],
  ['A', OTHER, null, '@ours.example,@second.example:x@remote.example', 'reject 554 5.7.1 - rcpt rule 4'],
  ['A', RELAY, null, '@ours.example:x@remote.example', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['A', OTHER, null, 'x@[10.1.0.25]', 'reject 554 5.7.1 - rcpt rule 4'],
  ['A', RELAY, null, 'x@[192.0.2.7]', 'accept 250 2.1.5 relay rcpt rule 4'],
  ['A', OTHER, 'bob', '<postmaster>', 'reject 535 5.7.8 - auth rule 4'],
];

describe('transcript (hand-written, smtpd_check style)', () => {
  for (const [cfg, ip, user, to, want] of TRANSCRIPT) {
    it(`${cfg} client=${ip} user=${user ?? '-'} rcpt=${to} → ${want}`, () => {
      const e = explain(snaps[cfg], { client: ip, user, from: FROM, to });
      assert.deepEqual(row(e.decision), expect(want), e.decision.trail.join('\n'));
      assert.ok(e.decision.trail.length > 0);
      assertNoInternalNames(e.decision);
    });
  }
});
