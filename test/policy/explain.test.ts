// explain(): the whole imagined transaction (connect, AUTH, MAIL, RCPT), the
// stage of the deciding step, the reason trail, and reply texts that never
// name internal objects.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explain, ExplainInputError, pickListener } from '../../src/checks/explain.ts';
import { decideAuth, decideConnect, decideRecipient } from '../../src/policy/rules.ts';
import { assertNoInternalNames, client, expect, FROM, INTERNAL_NAMES, relayDoc, row, snapshotOf } from './helpers.ts';

const snap = snapshotOf(relayDoc({ upstreamOnly: false, authRelay: true, hostRelay: true }));
const only = snapshotOf(relayDoc({ upstreamOnly: true, authRelay: true, hostRelay: true }));
const STRANGER = '203.0.113.9';
const RELAY_HOST = '10.1.2.3';

describe('explain: the deciding step', () => {
  it('a relayed message: every step asked, the last decided, trail naming rule 4 and the object', () => {
    const e = explain(snap, { client: RELAY_HOST, from: FROM, to: 'x@remote.example' });
    assert.deepEqual(row(e.decision), expect('accept 250 2.1.5 relay rcpt rule 4'));
    assert.deepEqual(e.steps.map((s) => s.stage), ['connect', 'mail', 'rcpt']);
    assert.equal(e.relayRight, 'host');
    assert.equal(e.listener, 'port25-listener', 'the first mx listener by default');
    assert.deepEqual(e.decision.trail, e.steps.flatMap((s) => s.trail));
    assert.ok(e.decision.trail.some((l) => l.includes('rule 4')));
    assert.ok(e.decision.trail.some((l) => l.includes('"office-lan"')));
  });

  it('authenticated relay by group: the trail names the user and the group', () => {
    const e = explain(snap, { client: STRANGER, user: 'gina', from: FROM, to: 'x@remote.example' });
    assert.deepEqual(row(e.decision), expect('accept 250 2.1.5 relay rcpt rule 4'));
    assert.deepEqual(e.steps.map((s) => s.stage), ['connect', 'auth', 'mail', 'rcpt']);
    assert.equal(e.relayRight, 'auth');
    const t = e.decision.trail.join('\n');
    assert.ok(t.includes('"gina"') && t.includes('"staff"'), t);
  });

  it('a refusal at connect stops there and names rule 1 and the blacklist entry', () => {
    const e = explain(snap, { client: '198.51.100.7', user: 'alice', from: FROM, to: 'x@ours.example' });
    assert.deepEqual(row(e.decision), expect('reject 554 5.7.1 - connect rule 1'));
    assert.equal(e.steps.length, 1);
    assert.equal(e.relayRight, null);
    assert.equal(e.scanned, null);
    assert.ok(e.decision.trail.some((l) => l.includes('rule 1')));
    assert.ok(e.decision.trail.some((l) => l.includes('"blackzone"')));
  });

  it('upstream-only: a refusal at connect names rule 2', () => {
    const e = explain(only, { client: STRANGER, from: FROM, to: 'x@ours.example' });
    assert.deepEqual(row(e.decision), expect('reject 554 5.7.1 - connect rule 2'));
    assert.ok(e.decision.trail.some((l) => l.includes('rule 2')));
  });

  it('a refused AUTH stops at stage auth', () => {
    const e = explain(snap, { client: RELAY_HOST, user: 'bob', from: FROM, to: 'x@ours.example' });
    assert.deepEqual(row(e.decision), expect('reject 535 5.7.8 - auth rule 4'));
    assert.deepEqual(e.steps.map((s) => s.stage), ['connect', 'auth']);
  });

  it('submission listener without a user: 530 5.7.0 at stage mail, even for a relay host', () => {
    for (const ip of [STRANGER, RELAY_HOST]) {
      const e = explain(snap, { client: ip, listener: 'port587-listener', from: FROM, to: 'x@ours.example' });
      assert.deepEqual(row(e.decision), expect('reject 530 5.7.0 - mail submission'), ip);
      assert.equal(e.listener, 'port587-listener');
      assert.deepEqual(e.steps.map((s) => s.stage), ['connect', 'mail']);
      assertNoInternalNames(e.decision);
    }
  });

  it('submission listener with an entitled user relays', () => {
    const e = explain(snap, { client: STRANGER, user: 'alice', listener: 'port587-listener', from: FROM, to: 'x@remote.example' });
    assert.deepEqual(row(e.decision), expect('accept 250 2.1.5 relay rcpt rule 4'));
  });

  it('a bad sender: 501 5.1.7 at stage mail', () => {
    for (const from of ['not an address', 'sender@', 'sender@@sender.example', 'sender@bad_domain!.example']) {
      const e = explain(snap, { client: RELAY_HOST, from, to: 'x@remote.example' });
      assert.deepEqual(row(e.decision), expect('reject 501 5.1.7 - mail syntax'), from);
      assert.ok(e.decision.trail.some((l) => l.includes(JSON.stringify(from))), from);
    }
  });

  it('a bad recipient: 501 5.1.3 at stage rcpt', () => {
    for (const to of ['x@', 'x@exa mple.example', 'x y@ours.example', '<x@ours.example', 'x@ours..example']) {
      const e = explain(snap, { client: RELAY_HOST, from: FROM, to });
      assert.deepEqual(row(e.decision), expect('reject 501 5.1.3 - rcpt syntax'), to);
      assert.equal(e.relayRight, null);
    }
  });

  it('a null sender is accepted', () => {
    assert.deepEqual(row(explain(snap, { client: STRANGER, from: '<>', to: 'x@ours.example' }).decision), expect('accept 250 2.1.5 inbound rcpt rule 3'));
  });
});

describe('explain: input errors', () => {
  it('a malformed client address or unknown listener is an input error, not a decision', () => {
    assert.throws(() => explain(snap, { client: '010.1.2.3', from: FROM, to: 'x@ours.example' }), ExplainInputError);
    assert.throws(() => explain(snap, { client: 'mx.example', from: FROM, to: 'x@ours.example' }), ExplainInputError);
    assert.throws(() => explain(snap, { client: RELAY_HOST, listener: 'nope', from: FROM, to: 'x@ours.example' }), ExplainInputError);
  });

  it('pickListener: by name, else the first mx listener', () => {
    assert.equal(pickListener(snap, null)?.name, 'port25-listener');
    assert.equal(pickListener(snap, 'port587-listener')?.mode, 'submission');
  });
});

describe('rule 7 as explain shows it: which messages are scanned', () => {
  it('inbound mail is scanned; relayed mail only when scan_relayed is on', () => {
    const noScan = relayDoc({ upstreamOnly: false, authRelay: true, hostRelay: true });
    (noScan.relaying as Record<string, unknown>).scan_relayed = false;
    const s = snapshotOf(noScan);
    assert.equal(explain(snap, { client: RELAY_HOST, from: FROM, to: 'x@remote.example' }).scanned, true);
    assert.equal(explain(s, { client: RELAY_HOST, from: FROM, to: 'x@remote.example' }).scanned, false);
    assert.equal(explain(s, { client: STRANGER, user: 'alice', from: FROM, to: 'x@remote.example' }).scanned, false);
    assert.equal(explain(s, { client: STRANGER, from: FROM, to: 'x@ours.example' }).scanned, true);
    assert.equal(explain(s, { client: '192.0.2.10', from: FROM, to: 'x@ours.example' }).scanned, true, 'an upstream host has no relay right');
    // A relayed message is one from a client with a relay right, whatever the recipient.
    assert.equal(explain(s, { client: RELAY_HOST, from: FROM, to: 'x@ours.example' }).scanned, false);
    assert.equal(explain(s, { client: STRANGER, from: FROM, to: 'x@remote.example' }).scanned, null);
  });
});

describe('reply texts never name internal objects', () => {
  const cases: [string, string | null, string, string][] = [];
  for (const ip of [STRANGER, RELAY_HOST, '192.0.2.10', '198.51.100.7', '198.51.100.20', '198.51.100.10', '::ffff:10.1.2.3']) {
    for (const user of [null, 'alice', 'gina', 'bob', 'dave', 'mallory']) {
      for (const to of ['x@ours.example', 'x@remote.example', 'x%remote.example@ours.example', '<postmaster>', 'x@']) {
        for (const listener of ['port25-listener', 'port587-listener']) cases.push([ip, user, to, listener]);
      }
    }
  }

  it(`in every step of ${cases.length} transactions, with and without upstream-only`, () => {
    let refusals = 0;
    for (const s of [snap, only]) {
      for (const [ip, user, to, listener] of cases) {
        const e = explain(s, { client: ip, user, listener, from: FROM, to });
        for (const step of e.steps) assertNoInternalNames(step, [...INTERNAL_NAMES, ip]);
        if (e.decision.action === 'reject') refusals++;
      }
    }
    assert.ok(refusals > 100, 'the sample includes many refusals');
  });

  it('the refusal texts are the generic ones', () => {
    assert.equal(decideConnect(snap, client('198.51.100.7')).text, 'Access denied');
    assert.equal(decideConnect(only, client(STRANGER)).text, 'Access denied');
    assert.equal(decideRecipient(snap, { client: client(STRANGER), listener: null, user: null }, 'x@remote.example').text, 'Relaying denied');
    assert.equal(decideAuth(snap, 'bob').text, decideAuth(snap, 'no-such-user').text);
  });
});

describe('every decision names its rule in its trail', () => {
  // ARCHITECTURE.md: "Every decision carries its reason trail (which rule,
  // which object matched)". A decision that reports rule N but whose trail
  // never mentions rule N cannot be told apart in a log line.
  it('AUTH refusals of unknown and disabled users name rule 4', () => {
    for (const u of ['mallory', 'dave']) {
      const d = decideAuth(snap, u);
      assert.equal(d.rule, 'rule 4');
      assert.ok(d.trail.some((l) => l.includes('rule 4')), `${u}: ${JSON.stringify(d.trail)}`);
    }
  });
});
