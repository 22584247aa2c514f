// The check runner without sockets: who a check applies to (decided by the
// runner from the relay rules, not by the check), exceptions applied by the
// runner, the first refusal ends a stage, what checks add reaches the later
// ones, a check that throws refuses with 451 (fail closed), the synchronous
// run refuses a check that does I/O, and the registry's order and names.

import { localIdentity } from '../../src/policy/identity.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePath } from '../../src/address/path.ts';
import { PASS, type Audience, type Check, type DataInput, type PathInput, type Verdict } from '../../src/checks/check.ts';
import { CHECKS } from '../../src/checks/registry.ts';
import { CheckRunner, type SessionBase } from '../../src/checks/runner.ts';
import { CheckServices } from '../../src/checks/services.ts';
import { MailError } from '../../src/core/mail-error.ts';
import { client, snapshotOf } from '../policy/helpers.ts';

const SNAP = snapshotOf({
  hostname: 'mx.test.example',
  networks: [
    { name: 'app', type: 'host', address: '192.0.2.1' },
    { name: 'isp', type: 'host', address: '192.0.2.2' },
    { name: 'partner', type: 'host', address: '198.51.100.9' },
  ],
  domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
  users: [{ name: 'alice', password: 'correct horse battery', groups: [] }],
  relaying: { allowed_hosts: ['app'], upstream_hosts: ['isp'], authenticated_relay: { enabled: true, users: ['alice'] } },
  antispam: { exceptions: [{ networks: ['partner'], senders: ['*@trusted.example'], skip: ['helo'] }] },
});

function base(ip: string, user: string | null = null): SessionBase {
  return { snap: SNAP, listener: SNAP.settings.listeners[0] ?? null, client: client(ip), user: user === null ? null : localIdentity(SNAP, user), helo: 'client.example', localAddress: null, memos: new Map() };
}

function mail(raw: string): PathInput {
  return { raw, path: parsePath(raw, { allowNull: true, requireBrackets: true }), smtputf8: false, wire: true };
}

/** A check that records the audiences it was asked for, at MAIL. */
function recorder(name: string, who: readonly Audience[], seen: string[], verdict: Verdict = PASS, exception?: 'helo'): Check {
  return { name, ...(exception ? { exception } : {}), mail: { who, run: (s) => (seen.push(`${name}:${s.audience}`), verdict) } };
}

test('the runner decides who a check applies to, from the relay rules: relay host, authenticated user, upstream host, direct client', async () => {
  const seen: string[] = [];
  const runner = new CheckRunner([recorder('spam', ['direct', 'upstream'], seen), recorder('all', ['direct', 'upstream', 'relay', 'authenticated'], seen)], new CheckServices());
  for (const [ip, user] of [['192.0.2.1', null], ['203.0.113.5', 'alice'], ['192.0.2.2', null], ['203.0.113.5', null]] as const) {
    await runner.run('mail', base(ip, user), mail('<a@example.net>'));
  }
  assert.deepEqual(seen, ['all:relay', 'all:authenticated', 'spam:upstream', 'all:upstream', 'spam:direct', 'all:direct']);
});

test('exceptions are applied by the runner: a check named by an exception is skipped, with the exception in the log', async () => {
  const seen: string[] = [];
  const runner = new CheckRunner([recorder('helo', ['direct'], seen, PASS, 'helo')], new CheckServices());
  // By network.
  const partner = await runner.run('mail', base('198.51.100.9'), mail('<a@example.net>'));
  assert.deepEqual(partner.log, { helo: { skipped_by: 'antispam.exceptions[0]' } });
  // By sender, known at MAIL.
  const trusted = await runner.run('mail', base('203.0.113.5'), mail('<x@trusted.example>'));
  assert.deepEqual(trusted.log, { helo: { skipped_by: 'antispam.exceptions[0]' } });
  // Neither: asked.
  const other = await runner.run('mail', base('203.0.113.5'), mail('<x@elsewhere.example>'));
  assert.deepEqual(other.log, {});
  assert.deepEqual(seen, ['helo:direct']);
});

test('the first refusal ends a stage, names its check and rule; a disabled check is not asked', async () => {
  const seen: string[] = [];
  const refuse: Verdict = { kind: 'refuse', error: new MailError(550, '5.7.1', 'No', { rule: 'test.rule', reason: 'because' }), log: { first: true } };
  const off: Check = { name: 'off', enabled: () => false, mail: { who: ['direct'], run: () => (seen.push('off'), PASS) } };
  const runner = new CheckRunner([off, recorder('first', ['direct'], seen, refuse), recorder('second', ['direct'], seen)], new CheckServices());
  const r = await runner.run('mail', base('203.0.113.5'), mail('<a@example.net>'));
  assert.deepEqual(seen, ['first:direct']);
  assert.equal(r.outcome, 'refuse');
  assert.equal(r.by, 'first');
  assert.equal(r.error?.code, 550);
  assert.equal(r.rule, 'test.rule');
  assert.equal(r.reason, 'because');
  assert.deepEqual(r.log, { first: true });
});

test('a check that throws refuses with 451 4.3.0 (fail closed), naming itself', async () => {
  const broken: Check = { name: 'broken', mail: { who: ['direct'], run: () => Promise.reject(new Error('lookup failed')) } };
  const r = await new CheckRunner([broken], new CheckServices()).run('mail', base('203.0.113.5'), mail('<a@example.net>'));
  assert.equal(r.error?.code, 451);
  assert.equal(r.error?.enhanced, '4.3.0');
  assert.equal(r.error?.temporary, true);
  assert.equal(r.by, 'broken');
  assert.match(r.reason ?? '', /broken: lookup failed/);
});

test('at the end of DATA, what one check adds reaches the later ones, and the last edit and a quarantine are kept', async () => {
  let sawPoints = -1;
  const adder: Check = { name: 'adder', data: { who: ['direct'], run: () => ({ kind: 'pass', add: { points: 2.5, symbols: ['S1'], headers: ['X-A: 1'] } }) } };
  const reader: Check = { name: 'reader', data: { who: ['direct'], run: (_s, x) => ((sawPoints = x.added.points), { kind: 'quarantine', rule: 'q.rule', reason: 'suspicious', edit: { add: ['X-B: 2'], remove: [], subjectTag: null } }) } };
  const input: DataInput = { id: 'Q1', sender: 'a@example.net', recipients: ['b@example.com'], received: [], origin: { text: '203.0.113.5', ip: client('203.0.113.5').ip, header: null }, added: { points: 0, symbols: [], headers: [], auth: [] }, contents: () => Promise.reject(new Error('not read')) };
  const r = await new CheckRunner([adder, reader], new CheckServices()).run('data', base('203.0.113.5'), input);
  assert.equal(sawPoints, 2.5);
  assert.equal(r.outcome, 'quarantine');
  assert.deepEqual([r.by, r.rule, r.reason], ['reader', 'q.rule', 'suspicious']);
  assert.deepEqual(r.added, { points: 2.5, symbols: ['S1'], headers: ['X-A: 1'], auth: [] });
  assert.deepEqual(r.edit?.add, ['X-B: 2']);
});

test('runSync asks only checks that answer at once; a check that does I/O is an error there, not a silent pass', () => {
  const slow: Check = { name: 'slow', mail: { who: ['direct'], run: () => Promise.resolve(PASS) } };
  assert.throws(() => new CheckRunner([slow], new CheckServices()).runSync('mail', base('203.0.113.5'), mail('<a@example.net>')), /answers asynchronously/);
  // Every check the offline explain uses answers at once.
  const offline = new CheckRunner(
    CHECKS.filter((c) => c.asks === undefined),
    new CheckServices(),
  );
  const r = offline.runSync('mail', base('203.0.113.5'), mail('<a@example.net>'));
  assert.equal(r.error, null);
  assert.equal(r.decision?.rule, 'syntax');
});

test('the registry: unique names, the relay rules before any other check but syntax, the content scan last, and no two checks named alike', () => {
  const names = CHECKS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(names.slice(0, 2), ['syntax', 'relay']);
  assert.equal(names.at(-1), 'scan');
  assert.throws(() => new CheckRunner([CHECKS[0]!, CHECKS[0]!], new CheckServices()), /two checks named "syntax"/);
  // Every check that does I/O says so: it is left out of the offline explain and the open-relay test.
  for (const name of ['dnsbl', 'spf', 'greylisting', 'scan']) assert.ok(CHECKS.find((c) => c.name === name)?.asks, `${name} declares what it asks`);
});

test('the relay rules are the first check of every stage: a stranger relaying is refused at RCPT with rule 4, whatever comes after', async () => {
  const seen: string[] = [];
  const runner = new CheckRunner([...CHECKS.filter((c) => c.asks === undefined), { name: 'later', rcpt: { who: ['direct', 'upstream', 'relay', 'authenticated'], run: () => (seen.push('later'), PASS) } }], new CheckServices());
  const to = '<user@victim.example>';
  const r = await runner.run('rcpt', base('203.0.113.5'), { raw: to, path: parsePath(to, { allowNull: false, requireBrackets: true }), smtputf8: false, wire: true, sender: 'a@example.net', accepted: 0, repeat: false });
  assert.deepEqual([r.error?.code, r.error?.enhanced, r.error?.rule, r.by], [554, '5.7.1', 'rule 4', 'relay']);
  assert.equal(r.decision?.action, 'reject');
  assert.deepEqual(seen, []);
});
