// The pure parts of DMARC (issue #19): what a result means under each
// action and pct, the one Authentication-Results field, and the per-message
// DNS deadline that turns a slow server into temperror.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorsPlan, decideDmarc, MAX_AUTHOR_DOMAINS, strictest, type DmarcPolicy } from '../../src/antispam/dmarc-policy.ts';
import { authResultsField } from '../../src/antispam/auth-results.ts';
import { deadlineResolver, verifyDmarc } from '../../src/antispam/dmarc.ts';
import { displayNameDomains } from '../../src/antispam/from-display-name.ts';
import { DMARC_ACTIONS } from '../../src/config/document.ts';

test('decideDmarc: every result, policy and action', () => {
  const want: Record<string, Record<DmarcPolicy, string>> = {
    reject: { reject: 'reject', quarantine: 'quarantine', none: 'none' },
    quarantine: { reject: 'quarantine', quarantine: 'quarantine', none: 'none' },
    tag: { reject: 'tag', quarantine: 'tag', none: 'none' },
    off: { reject: 'none', quarantine: 'none', none: 'none' },
  };
  for (const action of DMARC_ACTIONS) {
    for (const policy of ['reject', 'quarantine', 'none'] as const) {
      const d = decideDmarc({ result: 'fail', policy, pct: 100 }, action, 99.9);
      assert.equal(d.act, want[action]![policy], `${action} ${policy}`);
      assert.equal(d.applied, policy);
      // Only a fail ever acts: DNS trouble (temperror) and broken records (permerror) never refuse.
      for (const result of ['pass', 'none', 'temperror', 'permerror', 'neutral']) assert.deepEqual(decideDmarc({ result, policy, pct: 100 }, action, 0), { act: 'none', applied: null, sampled: true }, `${result} ${action} ${policy}`);
    }
    assert.equal(decideDmarc({ result: 'fail', policy: null, pct: 100 }, action, 0).act, 'none', 'no policy found');
  }
});

test('decideDmarc: pct samples; a message left out gets the next weaker policy (RFC 7489 6.6.4)', () => {
  assert.deepEqual(decideDmarc({ result: 'fail', policy: 'reject', pct: 0 }, 'reject', 0), { act: 'quarantine', applied: 'quarantine', sampled: false });
  assert.deepEqual(decideDmarc({ result: 'fail', policy: 'quarantine', pct: 0 }, 'reject', 0), { act: 'none', applied: 'none', sampled: false });
  assert.deepEqual(decideDmarc({ result: 'fail', policy: 'reject', pct: 30 }, 'reject', 29.99), { act: 'reject', applied: 'reject', sampled: true });
  assert.deepEqual(decideDmarc({ result: 'fail', policy: 'reject', pct: 30 }, 'reject', 30), { act: 'quarantine', applied: 'quarantine', sampled: false });
  assert.equal(decideDmarc({ result: 'fail', policy: 'reject', pct: 250 }, 'reject', 99.99).act, 'reject', 'a pct above 100 is 100');
  assert.equal(decideDmarc({ result: 'fail', policy: 'reject', pct: 0 }, 'tag', 50).act, 'tag', 'tag: quarantine is still worth a symbol');
});

test('authResultsField: one field for our authserv-id, a result per line, properties folded', () => {
  assert.equal(authResultsField('mx.example', []), null);
  const f = authResultsField('mx.example', [
    { method: 'spf', result: 'pass', info: 'spf=pass (mx.example: domain of a@b.example designates 192.0.2.1 as permitted sender) smtp.mailfrom=a@b.example smtp.helo=h.example' },
    { method: 'dkim', result: 'pass', info: 'dkim=pass header.i=@b.example header.s=sel header.a=rsa-sha256 header.b=AbCd' },
    { method: 'dmarc', result: 'pass', info: 'dmarc=pass (p=REJECT arc=none)\r\n header.from=b.example' },
  ]);
  assert.equal(
    f,
    'Authentication-Results: mx.example;\r\n' +
      '\tspf=pass (mx.example: domain of a@b.example designates 192.0.2.1 as permitted sender)\r\n\tsmtp.mailfrom=a@b.example\r\n\tsmtp.helo=h.example;\r\n' +
      '\tdkim=pass\r\n\theader.i=@b.example\r\n\theader.s=sel\r\n\theader.a=rsa-sha256\r\n\theader.b=AbCd;\r\n' +
      '\tdmarc=pass (p=REJECT arc=none)\r\n\theader.from=b.example',
  );
});

test('deadlineResolver: questions end by the deadline; past it they fail at once with ETIMEOUT', async () => {
  let now = 1000;
  const slow = () => new Promise<unknown>(() => {});
  const fast = (name: string) => Promise.resolve([[name]]);
  assert.deepEqual(await deadlineResolver(fast, 2000, () => now)('a.example', 'TXT'), [['a.example']]);
  const started = Date.now();
  await assert.rejects(deadlineResolver(slow, Date.now() + 50)('b.example', 'TXT'), (e: Error & { code?: string }) => e.code === 'ETIMEOUT');
  assert.ok(Date.now() - started < 2000);
  now = 2000;
  await assert.rejects(deadlineResolver(fast, 2000, () => now)('c.example', 'TXT'), (e: Error & { code?: string }) => e.code === 'ETIMEOUT');
});

test('settings: antispam.dmarc defaults (off), as the issue spells it, and what is refused with its path', async () => {
  const { validate } = await import('../../src/config/validate.ts');
  const doc = (antispam: Record<string, unknown>, dns: string[] = ['127.0.0.1:5353']) => ({ hostname: 'mx.example.com', listeners: [{ name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' }], dns: { servers: dns }, antispam });
  assert.deepEqual(validate(doc({})).settings.antispam.dmarc, { enabled: false, action: 'reject', score: 0 }, 'a document without the key: the default');
  const full = validate(doc({ dmarc: { enabled: true, action: 'quarantine', score: 3 }, exceptions: [{ senders: ['lists.example'], skip: ['dmarc'] }] }));
  assert.deepEqual([full.errors, full.warnings], [[], []]);
  assert.deepEqual(full.settings.antispam.dmarc, { enabled: true, action: 'quarantine', score: 3 });
  assert.deepEqual(full.settings.antispam.exceptions[0]?.skip, ['dmarc']);
  const bad = validate(doc({ dmarc: { enabled: 'yes', action: 'bounce', pct: 50 } }));
  assert.deepEqual(bad.errors.map((e) => e.path).sort(), ['antispam.dmarc.action', 'antispam.dmarc.enabled', 'antispam.dmarc.pct']);
  const noDns = validate(doc({ dmarc: { enabled: true } }, []));
  assert.deepEqual(noDns.warnings.map((w) => w.path), ['dns.servers']);
});

test('authorsPlan: a From without one author domain (several fields, several domains, an unreadable address, none at all)', () => {
  assert.deepEqual(authorsPlan('no-author-domain', 0, []), { kind: 'permerror', why: 'no From field' });
  assert.deepEqual(authorsPlan('no-author-domain', 1, []), { kind: 'permerror', why: 'no author domain' });
  assert.deepEqual(authorsPlan('multiple-from-fields', 2, []), { kind: 'permerror', why: 'several From fields' }, 'two fields, neither readable: no domain to judge');
  // Malformed: a signature may cover another field than the one shown, so no SPF or DKIM result counts.
  assert.deepEqual(authorsPlan('multiple-from-fields', 2, ['bank.example', 'attacker.example']), { kind: 'evaluate', why: 'several From fields', domains: ['bank.example', 'attacker.example'], credit: false });
  assert.deepEqual(authorsPlan('multiple-from-fields', 2, ['bank.example']), { kind: 'evaluate', why: 'several From fields', domains: ['bank.example'], credit: false }, 'an empty From beside a real one');
  assert.deepEqual(authorsPlan('invalid-author-domain', 1, ['bank.example']), { kind: 'evaluate', why: 'an unreadable address in From', domains: ['bank.example'], credit: false });
  // One valid field with several domains: RFC 7489 6.6.1, each domain with the authentication results.
  assert.deepEqual(authorsPlan('multiple-author-domains', 1, ['bank.example', 'attacker.example']), { kind: 'evaluate', why: 'several domains in From', domains: ['bank.example', 'attacker.example'], credit: true });
  const many = Array.from({ length: MAX_AUTHOR_DOMAINS + 1 }, (_, i) => `d${i}.example`);
  assert.deepEqual(authorsPlan('multiple-author-domains', 1, many), { kind: 'fail', why: `more than ${MAX_AUTHOR_DOMAINS} domains in From` });
  assert.equal(authorsPlan('multiple-author-domains', 1, many.slice(1)).kind, 'evaluate');
});

test('strictest: the fail with the strictest policy decides, whatever the order; DNS trouble never outranks a known fail', () => {
  const a = (domain: string, result: string, policy: DmarcPolicy | null = null, pct = 100) => ({ domain, result, policy, pct });
  const bank = a('bank.example', 'fail', 'reject');
  const attacker = a('attacker.example', 'none');
  assert.deepEqual(strictest([bank, attacker]), { result: 'fail', policy: 'reject', from: 'bank.example' });
  assert.deepEqual(strictest([attacker, bank]), { result: 'fail', policy: 'reject', from: 'bank.example' });
  assert.deepEqual(strictest([a('q.example', 'fail', 'quarantine'), bank, a('n.example', 'fail', 'none')]), { result: 'fail', policy: 'reject', from: 'bank.example' });
  assert.deepEqual(strictest([a('slow.example', 'temperror'), bank]), { result: 'fail', policy: 'reject', from: 'bank.example' }, 'a slow domain of the attacker does not hide the fail');
  assert.deepEqual(strictest([a('p.example', 'pass', 'reject'), bank]), { result: 'fail', policy: 'reject', from: 'bank.example' }, 'a pass of one domain does not cover another');
  assert.deepEqual(strictest([a('r30.example', 'fail', 'reject', 30), a('r90.example', 'fail', 'reject', 90)]).from, 'r90.example', 'same policy: the higher pct');
  assert.deepEqual(strictest([a('p.example', 'pass', 'reject'), a('slow.example', 'temperror')]), { result: 'temperror', policy: null, from: 'slow.example' });
  assert.deepEqual(strictest([a('p.example', 'pass', 'reject'), attacker]), { result: 'none', policy: null, from: 'attacker.example' });
  assert.deepEqual(strictest([a('p.example', 'pass', 'reject'), a('o.example', 'pass', 'none')]), { result: 'pass', policy: null, from: 'p.example' });
  assert.deepEqual(strictest([]), { result: 'permerror', policy: null, from: null });
  // What the decision then does with it: the same as a DMARC fail of that domain.
  assert.equal(decideDmarc({ result: 'fail', policy: strictest([attacker, bank]).policy, pct: 100 }, 'reject', 50).act, 'reject');
});

test('displayNameDomains: another domain\'s address in a From display name or comment, not the mailbox\'s own', () => {
  assert.deepEqual(displayNameDomains(['From: "ceo@bank.example" <me@attacker.example>']), ['bank.example']);
  assert.deepEqual(displayNameDomains(['From: me@attacker.example (ceo@Bank.Example)']), ['bank.example'], 'a comment, any case');
  assert.deepEqual(displayNameDomains(['From: "CEO ceo@bank.example"\r\n <me@x.example>, b@c.example', 'From: "x@d.example" <y@e.example>']), ['bank.example', 'd.example'], 'folded, several mailboxes and fields');
  assert.deepEqual(displayNameDomains(['From: "me@attacker.example" <me@attacker.example>']), [], 'the name is the address itself, as many mail programs write it');
  assert.deepEqual(displayNameDomains(['From: Ann <ann@a.example>', 'From: "Ann via List" <list@lists.example>', 'From:']), []);
});

test('verifyDmarc: DKIM keys the sender makes slow do not use up the time of the From domain\'s policy look-up', async () => {
  // Signatures whose key look-ups never end, then the p=reject record of the forged From domain.
  const asked: string[] = [];
  const resolve = (name: string) => {
    asked.push(name);
    if (name === '_dmarc.bank.example') return Promise.resolve([['v=DMARC1; p=reject']]);
    if (name.endsWith('._domainkey.slow.example')) return new Promise<never>(() => {});
    return Promise.reject(Object.assign(new Error('no such name'), { code: 'ENOTFOUND' }));
  };
  const sig = (s: string) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=slow.example; s=${s}; h=from; bh=s14J+iztnrytnRYzb7lhFG/jS/vrxWJnnahfijFMnco=; b=AAAA\r\n`;
  const message = `${sig('a')}${sig('b')}From: ceo@bank.example\r\nTo: u@example.com\r\nSubject: x\r\n\r\nx\r\n`;
  const within = () => deadlineResolver(resolve, Date.now() + 300);
  // mailauth is loaded on the first message: not on this test's clock.
  await verifyDmarc({ message: chunks(), spf: { result: 'none', domain: '' }, resolver: () => Promise.reject(new Error('not asked')) }).catch(() => null);
  async function* chunks() {
    yield Buffer.from(message);
  }
  const v = await verifyDmarc({ message: chunks(), spf: { result: 'none', domain: '' }, resolver: within(), policyResolver: within });
  assert.deepEqual(v.dkim.map((d) => d.result), ['temperror', 'temperror']);
  assert.deepEqual([v.dmarc.result, v.dmarc.policy, v.dmarc.from], ['fail', 'reject', 'bank.example']);
  assert.ok(asked.includes('a._domainkey.slow.example') && asked.includes('_dmarc.bank.example'), asked.join(' '));
});
