// Recipient verification without sockets: the list entries, every mode ×
// exists/unknown/temporary through the real runner and registry (so the
// relay rules come first and greylisting after), postmaster, domains that
// are not local or not verified, case handling, every kind of client, and
// what `policy explain` shows offline and online. The directory is a small
// in-test fake of the Directories port; the callout a fake CalloutPort (the
// real probe is tested in test/delivery/callout.test.ts and end to end in
// test/smtp/recipient-verify.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePath } from '../../src/address/path.ts';
import type { RcptInput } from '../../src/checks/check.ts';
import { explain, explainOnline, offlineRunner } from '../../src/checks/explain.ts';
import { parseListEntry } from '../../src/checks/recipient-rules.ts';
import { CHECKS } from '../../src/checks/registry.ts';
import { CheckRunner, type SessionBase } from '../../src/checks/runner.ts';
import { CheckServices } from '../../src/checks/services.ts';
import type { Snapshot } from '../../src/config/snapshot.ts';
import type { CalloutPort, CalloutRequest, Verified } from '../../src/delivery/callout.ts';
import type { Directories } from '../../src/directory/directories.ts';
import { localIdentity } from '../../src/policy/identity.ts';
import { client, snapshotOf } from '../policy/helpers.ts';

const SNAP = snapshotOf({
  hostname: 'mx.test.example',
  // Named by a domain below; never contacted (the Directories port is a fake here).
  directories: [{ name: 'corp', url: 'ldap://127.0.0.1', base_dn: 'dc=example,dc=com' }],
  networks: [
    { name: 'app', type: 'host', address: '192.0.2.1' },
    { name: 'isp', type: 'host', address: '192.0.2.2' },
  ],
  users: [{ name: 'alice', password: 'correct horse battery', groups: [] }],
  relaying: { allowed_hosts: ['app'], upstream_hosts: ['isp'], authenticated_relay: { enabled: true, users: ['alice'] } },
  domains: [
    { name: 'list.example', route: { hosts: ['10.9.9.1'] }, verify_recipients: 'list', recipients: ['alice', 'Bob@List.Example.', '"Carol Q"@list.example'] },
    { name: 'catch.example', route: { hosts: ['10.9.9.2'] }, verify_recipients: 'list', recipients: ['@catch.example'] },
    { name: 'dir.example', route: { hosts: ['10.9.9.3'] }, verify_recipients: 'directory', directory: 'corp' },
    { name: 'call.example', route: { hosts: ['10.9.9.4:2525', 'backup.example.net'] }, verify_recipients: 'callout', callout: { cache_positive: '5m' } },
    { name: 'off.example', route: { hosts: ['10.9.9.5'] } },
  ],
});

const DIRECT = '203.0.113.5';
const RELAY = '192.0.2.1';
const UPSTREAM = '192.0.2.2';

function base(snap: Snapshot, ip: string, user: string | null = null): SessionBase {
  return { snap, listener: null, client: client(ip), user: user === null ? null : localIdentity(snap, user), helo: 'client.example', localAddress: null, memos: new Map() };
}

function rcpt(raw: string, repeat = false): RcptInput {
  return { raw, path: parsePath(raw, { requireBrackets: true }), smtputf8: true, wire: true, sender: 'someone@sender.example', accepted: 0, repeat };
}

/** A Directories port that knows a few addresses, and throws for one. */
class FakeDirectories implements Directories {
  asked: string[] = [];
  async authenticate() {
    return null;
  }
  async lookup() {
    return null;
  }
  async hasAddress(_snap: Snapshot, directory: string, address: string): Promise<boolean> {
    this.asked.push(`${directory}:${address}`);
    if (address.startsWith('boom@')) throw new Error('ldap://10.9.9.3 did not answer');
    return directory === 'corp' && address === 'known@dir.example';
  }
}

/** A CalloutPort whose answer the test sets per address. */
class FakeCallout implements CalloutPort {
  asked: CalloutRequest[] = [];
  answers = new Map<string, Omit<Verified, 'cached'>>();
  async verify(req: CalloutRequest): Promise<Verified> {
    this.asked.push(req);
    const a = this.answers.get(req.address) ?? { answer: 'unknown', busy: false, detail: '10.9.9.4:2525: RCPT 550 no such user' };
    return { ...a, cached: false };
  }
}

function setup(opts: { directories?: Directories | null } = {}) {
  const dirs = new FakeDirectories();
  const callout = new FakeCallout();
  const runner = new CheckRunner(CHECKS, new CheckServices({ directories: opts.directories === undefined ? dirs : opts.directories, callout }));
  const ask = async (to: string, ip = DIRECT, user: string | null = null, repeat = false) => {
    const r = await runner.run('rcpt', base(SNAP, ip, user), rcpt(to, repeat));
    return { reply: r.error ? `${r.error.code} ${r.error.enhanced} ${r.error.text}` : 'ok', by: r.by, log: r.log, reason: r.reason };
  };
  return { dirs, callout, ask };
}

test('a recipients entry: "user", "user@domain", "@domain"; the domain compared in its normal form, the local part folded', () => {
  assert.deepEqual(parseListEntry('Alice', 'example.com'), { ok: true, entry: { kind: 'address', local: 'alice' } });
  assert.deepEqual(parseListEntry('ALICE@EXAMPLE.COM.', 'example.com'), { ok: true, entry: { kind: 'address', local: 'alice' } });
  assert.deepEqual(parseListEntry('@Example.com', 'example.com'), { ok: true, entry: { kind: 'domain' } });
  assert.deepEqual(parseListEntry('"a b"@example.com', 'example.com'), { ok: true, entry: { kind: 'address', local: 'a b' } });
  assert.deepEqual(parseListEntry('kim@xn--bcher-kva.example', 'bücher.example'), { ok: true, entry: { kind: 'address', local: 'kim' } });
  for (const bad of ['alice@other.example', '@other.example', 'a@b@example.com', 'alice@[192.0.2.1]', 'two words', '']) {
    assert.equal(parseListEntry(bad, 'example.com').ok, false, bad);
  }
});

test('list: a listed recipient passes (any case), an unknown one is refused 550 5.1.1 User unknown; a catch-all takes all', async () => {
  const { ask } = setup();
  for (const to of ['<alice@list.example>', '<ALICE@LIST.EXAMPLE>', '<bob@list.example.>', '<"carol q"@list.example>', '<anyone@catch.example>']) {
    assert.equal((await ask(to)).reply, 'ok', to);
  }
  const r = await ask('<carol@list.example>');
  assert.equal(r.reply, '550 5.1.1 Recipient address rejected: User unknown');
  assert.equal(r.by, 'recipient-list');
  assert.deepEqual(r.log.recipient_verify, { mode: 'list', answer: 'unknown' });
  // Not sub-addressing: "alice+tag" is another local part.
  assert.equal((await ask('<alice+tag@list.example>')).reply, '550 5.1.1 Recipient address rejected: User unknown');
});

test('every kind of client is verified alike: direct, upstream, relay host, authenticated user', async () => {
  const { ask } = setup();
  for (const [ip, user] of [[DIRECT, null], [UPSTREAM, null], [RELAY, null], [DIRECT, 'alice']] as const) {
    assert.equal((await ask('<nobody@list.example>', ip, user)).reply, '550 5.1.1 Recipient address rejected: User unknown', `${ip} ${user}`);
    assert.equal((await ask('<alice@list.example>', ip, user)).reply, 'ok', `${ip} ${user}`);
  }
});

test('postmaster is never verified: <postmaster> (rule 6) and postmaster@ every local domain, in any case', async () => {
  const { ask, dirs, callout } = setup({});
  for (const to of ['<postmaster>', '<Postmaster@list.example>', '<postmaster@dir.example>', '<POSTMASTER@call.example>']) {
    assert.equal((await ask(to)).reply, 'ok', to);
  }
  assert.deepEqual(dirs.asked, []);
  assert.deepEqual(callout.asked, []);
});

test('domains that are not local, or whose verification is off, are not verified; a relay refusal comes first', async () => {
  const { ask, dirs, callout } = setup();
  assert.equal((await ask('<anyone@off.example>')).reply, 'ok');
  // A relay host relays to another domain: nothing asked.
  assert.equal((await ask('<someone@elsewhere.example>', RELAY)).reply, 'ok');
  assert.equal((await ask('<someone@[192.0.2.9]>', RELAY)).reply, 'ok');
  // A direct client to another domain: the relay rules refuse, verification is not asked.
  const r = await ask('<someone@elsewhere.example>');
  assert.equal(r.by, 'relay');
  assert.match(r.reply, /^554 5\.7\.1 /);
  // Nor for a local domain's address the relay rules refused (routing operator, no relay right).
  assert.equal((await ask('<x%elsewhere.example@call.example>')).by, 'relay');
  assert.deepEqual(dirs.asked, []);
  assert.deepEqual(callout.asked, []);
});

test('a recipient already accepted in this transaction is not asked again', async () => {
  const { ask, callout } = setup();
  assert.equal((await ask('<nobody@call.example>', DIRECT, null, true)).reply, 'ok');
  assert.deepEqual(callout.asked, []);
});

test('directory: known passes, unknown 550 5.1.1, a directory that throws 451 4.4.3, no directory client 451 4.4.3', async () => {
  const { ask, dirs } = setup();
  assert.equal((await ask('<known@dir.example>')).reply, 'ok');
  assert.equal((await ask('<stranger@dir.example>')).reply, '550 5.1.1 Recipient address rejected: User unknown');
  const down = await ask('<boom@dir.example>');
  assert.equal(down.reply, '451 4.4.3 Recipient address verification is temporarily unavailable, please try again later');
  assert.doesNotMatch(down.reply, /10\.9\.9\.3|ldap/);
  assert.match(down.reason ?? '', /did not answer/, 'the log says why');
  assert.deepEqual(dirs.asked, ['corp:known@dir.example', 'corp:stranger@dir.example', 'corp:boom@dir.example']);
  const none = setup({ directories: null });
  assert.equal((await none.ask('<known@dir.example>')).reply, '451 4.4.3 Recipient address verification is temporarily unavailable, please try again later');
});

test('callout: exists passes, unknown 550 5.1.1, a 4xx to RCPT 450 4.1.1, nobody answering 451 4.4.3; the reply never names the route host', async () => {
  const { ask, callout } = setup();
  callout.answers.set('known@call.example', { answer: 'exists', busy: false, detail: '10.9.9.4:2525: RCPT 250' });
  callout.answers.set('full@call.example', { answer: 'temporary', busy: true, detail: '10.9.9.4:2525: RCPT 452 mailbox full' });
  callout.answers.set('down@call.example', { answer: 'temporary', busy: false, detail: '10.9.9.4:2525: connect ECONNREFUSED' });
  assert.equal((await ask('<known@call.example>')).reply, 'ok');
  const replies = [];
  for (const to of ['<Stranger@Call.Example>', '<full@call.example>', '<down@call.example>']) replies.push((await ask(to)).reply);
  assert.deepEqual(replies, [
    '550 5.1.1 Recipient address rejected: User unknown',
    '450 4.1.1 Recipient address rejected: unverified address, please try again later',
    '451 4.4.3 Recipient address verification is temporarily unavailable, please try again later',
  ]);
  for (const r of replies) assert.doesNotMatch(r, /10\.9\.9|2525|backup/);
  // What the probe was asked: the route hosts parsed, our hostname, the null sender, the local part as sent, the settings' times.
  const q = callout.asked[1];
  assert.ok(q);
  assert.deepEqual(q.hosts, [{ host: '10.9.9.4', port: 2525 }, { host: 'backup.example.net', port: 25 }]);
  assert.equal(q.address, 'Stranger@call.example');
  assert.equal(q.hostname, 'mx.test.example');
  assert.equal(q.sender, '');
  assert.equal(q.timeoutMs, 10_000);
  assert.equal(q.positiveMs, 5 * 60_000);
  assert.equal(q.negativeMs, 10 * 60_000);
});

test('an unknown recipient creates no greylist entry (verification runs before greylisting)', async () => {
  const snap = snapshotOf({ ...SNAP.settings, antispam: { ...SNAP.settings.antispam, greylisting: { enabled: true } } });
  const keys: string[] = [];
  const greylist = { check: async (key: string) => (keys.push(key), { pass: false, known: false, retryInMs: 60_000 }), prune: async () => 0, close: async () => {} };
  const runner = new CheckRunner(CHECKS, new CheckServices({ greylist, callout: new FakeCallout() }));
  const unknown = await runner.run('rcpt', base(snap, DIRECT), rcpt('<nobody@list.example>'));
  assert.equal(unknown.error?.code, 550);
  assert.deepEqual(keys, []);
  const known = await runner.run('rcpt', base(snap, DIRECT), rcpt('<alice@list.example>'));
  assert.equal(known.error?.code, 451, 'a listed recipient goes on to greylisting');
  assert.equal(keys.length, 1);
});

test('policy explain: offline it shows the list mode (the I/O modes are left out); online it asks the callout too', async () => {
  assert.ok(offlineRunner().checks.some((c) => c.name === 'recipient-list'));
  assert.ok(!offlineRunner().checks.some((c) => c.name === 'recipient-verify'), 'the offline runner asks nothing');
  const refused = explain(SNAP, { client: DIRECT, from: '<a@sender.example>', to: '<nobody@list.example>' });
  assert.equal(refused.decision.code, 550);
  assert.equal(refused.decision.enhanced, '5.1.1');
  assert.equal(refused.decision.rule, 'domains.verify_recipients');
  assert.match(refused.decision.trail.at(-1) ?? '', /^recipient-list: list: nobody@list\.example: not in the domain's recipients list$/);
  const ok = explain(SNAP, { client: DIRECT, from: '<a@sender.example>', to: '<alice@list.example>' });
  assert.equal(ok.decision.action, 'accept');
  assert.deepEqual(ok.checks.recipient_verify, { mode: 'list', answer: 'exists' });
  // Offline, a callout domain is not asked (nothing may be).
  assert.equal(explain(SNAP, { client: DIRECT, from: '<>', to: '<nobody@call.example>' }).decision.action, 'accept');
  const callout = new FakeCallout();
  const online = await explainOnline(SNAP, { client: DIRECT, from: '<>', to: '<nobody@call.example>' }, new CheckRunner(CHECKS, new CheckServices({ callout })));
  assert.equal(online.decision.code, 550);
  assert.deepEqual(online.checks.recipient_verify, { mode: 'callout', answer: 'unknown', cached: false });
  assert.equal(callout.asked.length, 1);
});

test('a document without any of these keys: the checks are not enabled and nothing is asked', async () => {
  const snap = snapshotOf({ hostname: 'mx.test.example', domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9'] } }] });
  const used = CHECKS.filter((c) => c.name.startsWith('recipient-')).map((c) => c.enabled?.(snap));
  assert.deepEqual(used, [false, false]);
  assert.deepEqual(CHECKS.filter((c) => c.name.startsWith('recipient-')).map((c) => c.enabled?.(SNAP)), [true, true]);
});
