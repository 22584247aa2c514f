// The impact preview's replay engine (src/preview/impact.ts, replay.ts):
// recorded decisions replayed under the active revision and a candidate,
// through the daemon's own checks, for each kind of change to the relay
// rules — what would now be refused, accepted or relayed, by which rule,
// for which client and senders; what stays out (checks that cannot be
// replayed) and what is not replayed and why.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ImpactBuilder, type ClientImpact, type ImpactPreview } from '../../src/preview/impact.ts';
import { Replayer, refusedByOtherCheck } from '../../src/preview/replay.ts';
import type { DirectoryAnswers } from '../../src/preview/replay.ts';
import type { Snapshot } from '../../src/config/snapshot.ts';
import type { DecisionTuple } from '../../src/tracking/tracking-reader.ts';
import { BASE, changed, snapshotOf, T0, TRAFFIC, tuple } from './helpers.ts';

function preview(candidate: Snapshot, tuples: DecisionTuple[] = TRAFFIC, o: { active?: Snapshot; truncated?: boolean; directories?: { active: DirectoryAnswers; candidate: DirectoryAnswers } } = {}): ImpactPreview {
  const b = new ImpactBuilder({ active: o.active ?? BASE, candidate, days: 7, since: T0 - 7 * 86_400_000, until: T0 + 86_400_000, limit: 20_000, ...(o.directories ? { directories: o.directories } : {}) });
  for (const t of tuples) b.add(t);
  return b.finish(o.truncated ?? false);
}

const clients = (l: ClientImpact[]) => l.map((g) => g.client);
const group = (l: ClientImpact[], client: string): ClientImpact => {
  const g = l.find((x) => x.client === client);
  assert.ok(g, `no group for ${client} in ${JSON.stringify(clients(l))}`);
  return g;
};
const afterRules = (g: ClientImpact) => g.rules.map((r) => `${r.before.action} ${r.before.rule} -> ${r.after.action} ${r.after.code} ${r.after.rule} at ${r.after.stage}`);
const TOTAL = TRAFFIC.reduce((n, t) => n + t.count, 0);

describe('impact preview: no change', () => {
  it('the active document itself changes nothing: no group, no caution, every tuple replayed', () => {
    const p = preview(snapshotOf(changed(() => {})));
    assert.deepEqual([p.would_now_refuse, p.would_now_accept, p.rule_changes], [[], [], []]);
    assert.equal(p.caution, false);
    assert.equal(p.recorded.tuples, TRAFFIC.length);
    assert.equal(p.recorded.rcpts, TOTAL);
    assert.equal(p.totals.replayed_rcpts, TOTAL);
    assert.equal(p.totals.unchanged_rcpts, TOTAL);
    assert.deepEqual(p.not_replayed, []);
    assert.equal(p.summary, `no change for the ${TOTAL} recipients replayed over 7 days`);
  });

  it('nothing recorded: says so', () => {
    const p = preview(snapshotOf(changed(() => {})), []);
    assert.equal(p.summary, 'no recorded decisions over 7 days: nothing to replay');
    assert.equal(p.recorded.first, null);
  });
});

describe('impact preview: allowed_hosts', () => {
  it('tightened to the printer alone: the application server would now be refused by rule 4; the printer keeps relaying', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.allowed_hosts = ['printer-2']))));
    assert.deepEqual(clients(p.would_now_refuse), ['10.1.5.5']);
    const g = group(p.would_now_refuse, '10.1.5.5');
    assert.equal(g.rcpts, 40);
    assert.equal(g.network, 'app-servers', 'the smallest object holding the client names it');
    assert.deepEqual(g.senders, [{ value: 'app@ours.example', rcpts: 40 }]);
    assert.deepEqual(g.recipients, [{ value: 'customer@remote.example', rcpts: 40 }]);
    assert.deepEqual(afterRules(g), ['accept rule 4 -> reject 554 rule 4 at rcpt']);
    assert.equal(g.first, new Date(T0).toISOString());
    assert.equal(p.caution, true);
    assert.equal(p.summary, 'would now refuse: 40 recipients from 10.1.5.5 (app-servers, rule 4) over 7 days');
  });

  it('the office network removed: printer-2 by name, with both senders (the null sender as <>), 132 recipients', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.allowed_hosts = []))));
    assert.deepEqual(clients(p.would_now_refuse), ['10.1.2.3', '10.1.5.5']);
    const g = group(p.would_now_refuse, '10.1.2.3');
    assert.equal(g.rcpts, 132);
    assert.equal(g.tuples, 2);
    assert.equal(g.network, 'printer-2');
    assert.deepEqual(g.senders, [{ value: 'printer@ours.example', rcpts: 130 }, { value: '<>', rcpts: 2 }]);
    assert.equal(g.rules[0]?.after.why, 'rule 4: partner.example is not local and the client has no relay right: refused');
    assert.equal(p.totals.would_now_refuse.rcpts, 172);
    assert.equal(p.summary, 'would now refuse: 132 recipients from 10.1.2.3 (printer-2, rule 4) and 40 recipients from 1 other client over 7 days');
  });

  it('a relay host added: the stranger refused by rule 4 would now relay; the rate-limited client stays out', () => {
    const p = preview(snapshotOf(changed((d) => {
      d.networks.push({ name: 'partner-mta', type: 'network', address: '198.18.0.0/29' });
      d.relaying.allowed_hosts = ['office-lan', 'partner-mta'];
    })));
    assert.deepEqual(clients(p.would_now_accept), ['198.18.0.2']);
    const g = group(p.would_now_accept, '198.18.0.2');
    assert.deepEqual(afterRules(g), ['reject rule 4 -> accept 250 rule 4 at rcpt']);
    assert.equal(g.rules[0]?.after.kind, 'relay');
    assert.equal(g.network, 'partner-mta');
    assert.equal(p.caution, false, 'allowing more refuses nothing');
    assert.equal(p.totals.would_now_accept.relay, 3);
    // 198.18.0.4 was refused by a rate limit: its answer stands, it is no "would now relay".
    const left = p.not_replayed.find((r) => r.reason.includes('limits.rate[0]'));
    assert.ok(left, JSON.stringify(p.not_replayed));
    assert.deepEqual(left.clients, ['198.18.0.4']);
    assert.equal(left.rcpts, 4);
    assert.equal(p.summary, 'would now relay: 1 client; 4 recipients not replayed');
  });
});

describe('impact preview: authenticated relay', () => {
  it('alice taken out of the relay users: her mail would now be refused at AUTH (535, rule 4); gina (by group) is not affected', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.authenticated_relay.users = []))));
    assert.deepEqual(clients(p.would_now_refuse), ['203.0.113.9']);
    const g = group(p.would_now_refuse, '203.0.113.9');
    assert.equal(g.rcpts, 13);
    assert.deepEqual(g.users, ['alice']);
    assert.deepEqual(afterRules(g), ['accept rule 4 -> reject 535 rule 4 at auth']);
    assert.deepEqual(g.senders.map((s) => s.value), ['alice@ours.example', 'ceo@bank.example']);
  });

  it('the group staff taken out: gina on the submission listener would now be refused at AUTH', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.authenticated_relay.groups = []))));
    const g = group(p.would_now_refuse, '203.0.113.10');
    assert.deepEqual(afterRules(g), ['accept rule 4 -> reject 535 rule 4 at auth']);
    assert.deepEqual(g.listeners, ['submission']);
  });

  it('authenticated relay turned off, or the user disabled, or removed: refused at AUTH', () => {
    for (const edit of [
      (d: any) => (d.relaying.authenticated_relay.enabled = false),
      (d: any) => (d.users[0].enabled = false),
      (d: any) => {
        d.users.splice(0, 1);
        d.relaying.authenticated_relay.users = [];
      },
    ]) {
      const p = preview(snapshotOf(changed(edit)));
      assert.ok(p.would_now_refuse.some((g) => g.client === '203.0.113.9' && g.rules.every((r) => r.after.stage === 'auth' && r.after.code === 535)), JSON.stringify(p.would_now_refuse));
    }
  });

  it('bob put into relay users: nothing recorded from bob, so nothing changes', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.authenticated_relay.users = ['alice', 'bob']))));
    assert.equal(p.caution, false);
    assert.deepEqual(p.would_now_accept, []);
  });
});

describe('impact preview: sender_login', () => {
  it('turned on (address): alice sending as ceo@bank.example would now be refused at MAIL (553); her own address passes', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.sender_login = 'address'))));
    // gina has no addresses: every sender of hers is refused too.
    assert.deepEqual(clients(p.would_now_refuse), ['203.0.113.10', '203.0.113.9']);
    const g = group(p.would_now_refuse, '203.0.113.9');
    assert.equal(g.rcpts, 1);
    assert.deepEqual(g.senders, [{ value: 'ceo@bank.example', rcpts: 1 }]);
    assert.deepEqual(afterRules(g), ['accept rule 4 -> reject 553 relaying.sender_login at mail']);
  });

  it('domain mode with gina given an address of ours: only the foreign sender is refused', () => {
    const p = preview(snapshotOf(changed((d) => {
      d.relaying.sender_login = 'domain';
      d.users[1].addresses = ['gina@ours.example'];
    })));
    assert.deepEqual(clients(p.would_now_refuse), ['203.0.113.9']);
  });

  it('turned off again (from an active revision that has it on): the refused sender is not in the recordings (refused at MAIL), the rest unchanged', () => {
    const on = snapshotOf(changed((d) => (d.relaying.sender_login = 'address')));
    const p = preview(BASE, TRAFFIC, { active: on });
    // Replayed against the active revision (on), not against what was answered then (off).
    assert.deepEqual(clients(p.would_now_accept), ['203.0.113.10', '203.0.113.9']);
    assert.deepEqual(afterRules(group(p.would_now_accept, '203.0.113.9')), ['reject relaying.sender_login -> accept 250 rule 4 at rcpt']);
  });
});

describe('impact preview: upstream_only and the blacklist', () => {
  it('upstream_only on: every direct Internet client would now be refused at connect (rule 2); upstream and relay hosts are not', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.upstream_only = true))));
    assert.deepEqual(clients(p.would_now_refuse), ['198.18.0.1', '203.0.113.9', '203.0.113.10']);
    for (const g of p.would_now_refuse) assert.deepEqual(g.rules.map((r) => `${r.after.rule} ${r.after.stage} ${r.after.code}`), ['rule 2 connect 554']);
    // Clients refused already (by rule 4 under the active revision): only the rule changes (rule 4 at RCPT -> rule 2 at connect).
    assert.deepEqual(clients(p.rule_changes), ['198.18.0.4', '198.18.0.2']);
    assert.deepEqual(afterRules(group(p.rule_changes, '198.18.0.2')), ['reject rule 4 -> reject 554 rule 2 at connect']);
    // The greylisted client: refused then by a check not replayed, left out of "would now refuse".
    assert.ok(!clients(p.would_now_refuse).includes('198.18.0.3'));
    assert.ok(p.not_replayed.some((r) => r.reason.startsWith('refused then by antispam.greylisting (451)') && r.clients.includes('198.18.0.3')));
    assert.equal(p.summary.split('; ')[0], 'would now refuse: 30 recipients from 198.18.0.1 (rule 2) and 20 recipients from 2 other clients over 7 days');
  });

  it('a network blacklisted: its clients refused at connect by rule 1; a relay host inside it stays allowed', () => {
    const p = preview(snapshotOf(changed((d) => {
      d.networks.push({ name: 'bad-range', type: 'network', address: '198.18.0.0/24' }, { name: 'ten', type: 'network', address: '10.1.5.0/24' });
      d.relaying.blacklist = ['blackzone', 'bad-range', 'ten'];
    })));
    assert.deepEqual(clients(p.would_now_refuse), ['198.18.0.1']);
    assert.deepEqual(afterRules(group(p.would_now_refuse, '198.18.0.1')), ['accept rule 3 -> reject 554 rule 1 at connect']);
    assert.equal(group(p.would_now_refuse, '198.18.0.1').network, 'bad-range');
    assert.deepEqual(clients(p.rule_changes), ['198.18.0.4', '198.18.0.2'], 'refused already: now by rule 1 instead of rule 4');
    assert.ok(!clients(p.would_now_refuse).includes('10.1.5.5'), 'a relay host in a blocked network stays allowed (rule 1)');
  });

  it('with upstream_only on, an upstream host taken off the list would now be refused at connect (rule 2)', () => {
    const only = snapshotOf(changed((d) => (d.relaying.upstream_only = true)));
    const p = preview(snapshotOf(changed((d) => {
      d.relaying.upstream_only = true;
      d.relaying.upstream_hosts = [];
    })), TRAFFIC, { active: only });
    assert.deepEqual(clients(p.would_now_refuse), ['192.0.2.10']);
    assert.deepEqual(afterRules(group(p.would_now_refuse, '192.0.2.10')), ['accept rule 3 -> reject 554 rule 2 at connect']);
    assert.equal(group(p.would_now_refuse, '192.0.2.10').network, 'isp-feeder');
  });

  it('a network object narrowed (the office network to one /24): the application server outside it loses its relay right', () => {
    const p = preview(snapshotOf(changed((d) => (d.networks[0].address = '10.1.2.0/24'))));
    assert.deepEqual(clients(p.would_now_refuse), ['10.1.5.5']);
    assert.deepEqual(afterRules(group(p.would_now_refuse, '10.1.5.5')), ['accept rule 4 -> reject 554 rule 4 at rcpt']);
  });

  it('the blacklist emptied: nothing recorded from it (refused at connect), so nothing changes', () => {
    const p = preview(snapshotOf(changed((d) => (d.relaying.blacklist = []))));
    assert.equal(p.caution, false);
    assert.deepEqual(p.would_now_accept, []);
  });
});

describe('impact preview: domains, routing operators, recipient lists', () => {
  it('a local domain removed: mail for it from the Internet would now be refused (rule 4); from a relay host it would be relayed instead (a rule change)', () => {
    const extra = tuple({ client: '10.1.5.5', sender: 'app@ours.example', recipient: 'ops@second.example', rule: 'rule 3', count: 6 });
    const p = preview(snapshotOf(changed((d) => d.domains.splice(1, 1))), [...TRAFFIC, extra]);
    assert.deepEqual(afterRules(group(p.would_now_refuse, '198.18.0.1')), ['accept rule 3 -> reject 554 rule 4 at rcpt']);
    assert.equal(group(p.would_now_refuse, '198.18.0.1').rcpts, 5);
    const r = group(p.rule_changes, '10.1.5.5');
    assert.deepEqual(r.rules.map((x) => `${x.before.kind} ${x.before.rule} -> ${x.after.kind} ${x.after.rule}`), ['inbound rule 3 -> relay rule 4']);
  });

  it('a domain added: the relay attempt to it would now be accepted as inbound (rule 3)', () => {
    const p = preview(snapshotOf(changed((d) => d.domains.push({ name: 'remote.example', route: { hosts: ['10.1.0.27:25'] } }))));
    const g = group(p.would_now_accept, '198.18.0.2');
    assert.deepEqual(g.rules.map((r) => `${r.after.kind} ${r.after.rule}`), ['inbound rule 3']);
    assert.match(p.summary, /would now accept: 1 client/);
  });

  it('a routing operator from a relay host: refused by rule 5 once the host loses its relay right', () => {
    const t = tuple({ client: '10.1.5.6', recipient: 'user%victim.example@ours.example', rule: 'rule 3', count: 2 });
    const p = preview(snapshotOf(changed((d) => (d.relaying.allowed_hosts = ['printer-2']))), [t]);
    assert.deepEqual(afterRules(group(p.would_now_refuse, '10.1.5.6')), ['accept rule 3 -> reject 554 rule 5 at rcpt']);
  });

  it('<postmaster> stays accepted (rule 6) whatever relay rights change', () => {
    const t = tuple({ client: '10.1.5.6', recipient: 'postmaster', rule: 'rule 6', count: 2 });
    const p = preview(snapshotOf(changed((d) => (d.relaying.allowed_hosts = []))), [t]);
    assert.deepEqual(p.would_now_refuse, []);
    assert.equal(p.totals.unchanged_rcpts, 2);
  });

  it('recipient verification by list turned on: the unknown mailbox would now be refused (550, domains.verify_recipients), the listed one not', () => {
    const p = preview(snapshotOf(changed((d) => Object.assign(d.domains[1], { verify_recipients: 'list', recipients: ['sales'] }))));
    assert.deepEqual(afterRules(group(p.would_now_refuse, '198.18.0.1')), ['accept rule 3 -> reject 550 domains.verify_recipients at rcpt']);
    assert.deepEqual(group(p.would_now_refuse, '198.18.0.1').recipients, [{ value: 'info@second.example', rcpts: 5 }]);
  });
});

describe('impact preview: listeners, proxies and facts that cannot be replayed', () => {
  it('the submission listener removed: its mail would not be received there (a caution), named as such', () => {
    const p = preview(snapshotOf(changed((d) => d.listeners.splice(1, 1))));
    const g = group(p.would_now_refuse, '203.0.113.10');
    assert.deepEqual(g.rules.map((r) => [r.after.rule, r.after.code]), [['listener "submission" removed', null]]);
    assert.equal(p.caution, true);
  });

  it('a listener the active revision does not have either: not replayed, with the reason', () => {
    const t = tuple({ client: '10.1.5.5', listener: 'old-mx', count: 3 });
    const p = preview(snapshotOf(changed(() => {})), [t]);
    assert.deepEqual(p.not_replayed, [{ reason: 'listener "old-mx" is not in the active revision', rcpts: 3, tuples: 1, clients: ['10.1.5.5'], more_clients: 0 }]);
    assert.equal(p.totals.replayed_rcpts, 0);
  });

  it('a recorded client inside the trusted proxies is decided for itself (the address the rules saw), not for what a proxy could claim', () => {
    const t = tuple({ client: '10.9.0.5', recipient: 'x@remote.example', action: 'reject', rule: 'rule 4', code: 554 });
    const a = new Replayer(BASE).replay(t);
    assert.ok(a.ok);
    assert.equal(a.answer.action, 'reject', 'a proxy address has no relay right of its own');
    const p = preview(snapshotOf(changed((d) => (d.relaying.allowed_hosts = ['printer-2']))), [t]);
    assert.deepEqual(p.would_now_refuse, []);
  });

  it('an unreadable client address and a decision without recipient are not replayed, each with its reason', () => {
    const p = preview(BASE, [tuple({ client: 'not-an-ip' }), tuple({ client: '10.1.5.5', recipient: '', action: 'reject', rule: 'rule 2', code: 554 })]);
    assert.deepEqual(p.not_replayed.map((r) => r.reason).sort(), ['recorded client address cannot be read', 'refused before RCPT: no recipient recorded']);
  });

  it('which recorded refusals count as the replay\'s own', () => {
    for (const rule of ['rule 1', 'rule 2', 'rules 1-2', 'rule 4', 'rule 5', 'submission', 'relaying.sender_login']) assert.equal(refusedByOtherCheck({ action: 'reject', rule }), false, rule);
    for (const rule of ['antispam.greylisting', 'antispam.dnsbl[0]', 'limits.rate[1]', 'domains.verify_recipients', 'syntax', 'internal', 'limits.max_recipients', null]) assert.equal(refusedByOtherCheck({ action: 'reject', rule }), true, String(rule));
    assert.equal(refusedByOtherCheck({ action: 'accept', rule: 'antispam.greylisting' }), false);
  });

  it('truncated: said in the report and the summary', () => {
    const p = preview(snapshotOf(changed(() => {})), TRAFFIC, { truncated: true });
    assert.equal(p.recorded.truncated, true);
    assert.match(p.summary, /only the 12 most frequent decisions were read$/);
  });

  it('senders and recipients are bounded to the ten most frequent, the rest counted', () => {
    const many = Array.from({ length: 15 }, (_, i) => tuple({ client: '10.1.5.5', sender: `s${i}@ours.example`, recipient: `r${i}@remote.example`, count: i + 1 }));
    const p = preview(snapshotOf(changed((d) => (d.relaying.allowed_hosts = []))), many);
    const g = group(p.would_now_refuse, '10.1.5.5');
    assert.equal(g.senders.length, 10);
    assert.equal(g.more_senders, 5);
    assert.equal(g.senders[0]?.value, 's14@ours.example');
    assert.equal(g.more_recipients, 5);
    assert.equal(g.rcpts, 120);
  });
});

describe('impact preview: directory users', () => {
  const dir = { name: 'corp', url: 'ldap://127.0.0.1:1', base_dn: 'dc=corp,dc=example', bind_dn: 'cn=reader,dc=corp,dc=example', bind_password: 'pw' };
  const withDir = (groups: string[]) => snapshotOf(changed((d) => {
    d.directories = [dir];
    d.relaying.authenticated_relay.groups = groups;
  }));
  const active = withDir(['staff', 'corp:mail-senders']);
  const t = tuple({ client: '203.0.113.50', user: 'kim', sender: 'kim@ours.example', count: 8 });
  const kim = { name: 'kim', directory: 'corp', enabled: true, groups: ['corp:mail-senders'], addresses: ['kim@ours.example'] };

  it('looked up for each revision: the directory group taken out of relay groups refuses her at AUTH', () => {
    const answers = new Map([['kim', { found: kim }]]);
    const p = preview(withDir(['staff']), [t], { active, directories: { active: answers, candidate: answers } });
    assert.deepEqual(afterRules(group(p.would_now_refuse, '203.0.113.50')), ['accept rule 4 -> reject 535 rule 4 at auth']);
  });

  it('unknown to the directory: decided as nobody (refused at AUTH) under both, so no change', () => {
    const answers = new Map([['kim', { found: null }]]);
    const p = preview(withDir(['staff']), [t], { active, directories: { active: answers, candidate: answers } });
    assert.deepEqual(p.would_now_refuse, []);
    assert.equal(p.totals.unchanged_rcpts, 8);
  });

  it('not looked up, or the directory did not answer: not replayed, with why', () => {
    let p = preview(withDir(['staff']), [t], { active });
    assert.deepEqual(p.not_replayed.map((r) => r.reason), ['directory user under the active revision: not looked up']);
    const failed = new Map([['kim', { error: 'the directory did not answer in time' }]]);
    p = preview(withDir(['staff']), [t], { active, directories: { active: new Map([['kim', { found: kim }]]), candidate: failed } });
    assert.deepEqual(p.not_replayed.map((r) => r.reason), ['directory user under the candidate: the directory did not answer in time']);
    assert.equal(p.caution, false);
  });

  it('the directories removed by the change: the login is nobody there, refused at AUTH', () => {
    const answers = new Map([['kim', { found: kim }]]);
    const p = preview(BASE, [t], { active, directories: { active: answers, candidate: new Map() } });
    assert.deepEqual(afterRules(group(p.would_now_refuse, '203.0.113.50')), ['accept rule 4 -> reject 535 rule 4 at auth']);
  });
});
