// The scan decision table (src/scan/scan-policy.ts), exhaustively: every
// combination of malware verdict, spam verdict, actions and error policies,
// each checked against the rules written out independently below.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultAntispam, defaultAntivirus, type AntispamSettings, type AntivirusSettings } from '../../src/config/document.ts';
import { decideScan, safeText, type SpamOutcome, type VirusOutcome } from '../../src/scan/scan-policy.ts';

const virusCases: [string, VirusOutcome][] = [
  ['disabled', { scanned: false, why: 'disabled' }],
  ['relayed', { scanned: false, why: 'relayed' }],
  ['too_big', { scanned: false, why: 'too_big' }],
  ['clean', { scanned: true, verdict: { result: 'clean' }, ms: 3 }],
  ['infected', { scanned: true, verdict: { result: 'infected', name: 'Eicar-Test.UNOFFICIAL' }, ms: 3 }],
  ['error', { scanned: true, verdict: { result: 'error', detail: 'clamd: connect ECONNREFUSED' }, ms: 1 }],
];
const spamCases: [string, SpamOutcome][] = [
  ['disabled', { scanned: false, why: 'disabled' }],
  ['too_big', { scanned: false, why: 'too_big' }],
  ['ham', { scanned: true, engine: 'spamassassin', verdict: { result: 'scored', score: 1.2, required: 5, symbols: ['A', 'B'] }, ms: 50 }],
  ['spam', { scanned: true, engine: 'spamassassin', verdict: { result: 'scored', score: 7.5, required: 5, symbols: ['C'] }, ms: 50 }],
  ['reject', { scanned: true, engine: 'rspamd', verdict: { result: 'scored', score: 999, required: 15, symbols: ['GTUBE'] }, ms: 50 }],
  ['error', { scanned: true, engine: 'spamassassin', verdict: { result: 'error', detail: 'spamd did not answer within 100 ms' }, ms: 100 }],
];

function expected(v: string, s: string, av: AntivirusSettings, as: AntispamSettings): { action: string; rule: string; code: number | null } {
  if (v === 'infected') return { action: av.action, rule: 'antivirus.action', code: av.action === 'reject' ? 554 : null };
  if (s === 'reject' && as.reject_score !== null) return { action: 'reject', rule: 'antispam.reject_score', code: 554 };
  if (v === 'error' && av.on_error === 'tempfail') return { action: 'tempfail', rule: 'antivirus.on_error', code: 451 };
  if (s === 'error' && as.on_error === 'tempfail') return { action: 'tempfail', rule: 'antispam.on_error', code: 451 };
  if (s === 'spam' || (s === 'reject' && as.reject_score === null)) {
    if (as.spam_action === 'quarantine') return { action: 'quarantine', rule: 'antispam.spam_action', code: null };
    return { action: 'accept', rule: 'antispam.spam_action', code: null };
  }
  return { action: 'accept', rule: 'scan', code: null };
}

test('every combination of verdicts, actions and error policies decides as the table says', () => {
  let n = 0;
  for (const action of ['reject', 'quarantine', 'blackhole'] as const)
    for (const avErr of ['tempfail', 'accept'] as const)
      for (const spamAction of ['quarantine', 'tag', 'off'] as const)
        for (const asErr of ['tempfail', 'accept'] as const)
          for (const rejectScore of [15, null])
            for (const [vName, virus] of virusCases)
              for (const [sName, spam] of spamCases) {
                const av = { ...defaultAntivirus(), enabled: true, action, on_error: avErr };
                const as = { ...defaultAntispam(), enabled: true, spam_action: spamAction, on_error: asErr, reject_score: rejectScore, subject_tag: '[SPAM]' };
                const d = decideScan({ antivirus: av, antispam: as, virus, spam });
                const want = expected(vName, sName, av, as);
                const label = `${vName}/${sName} action=${action} av.on_error=${avErr} spam_action=${spamAction} as.on_error=${asErr} reject=${rejectScore}`;
                assert.equal(d.action, want.action, label);
                assert.equal(d.rule, want.rule, label);
                assert.equal(d.reply?.code ?? null, want.code, label);
                if (d.reply?.code === 554) assert.equal(d.reply.enhanced, d.rule === 'antivirus.action' ? '5.7.0' : '5.7.1', label);
                if (d.reply?.code === 451) assert.equal(d.reply.enhanced, '4.7.0', label);
                // The subject is tagged only for spam that is tagged and accepted.
                const tagged = d.action === 'accept' && d.rule === 'antispam.spam_action' && spamAction === 'tag';
                assert.equal(d.subjectTag, tagged ? '[SPAM]' : null, label);
                // Scored messages carry the spam headers, whatever happens next.
                const scored = spam.scanned && spam.verdict.result === 'scored';
                assert.equal(d.add.some((h) => h.startsWith('X-Spam-Status: ')), scored, label);
                assert.equal(d.add.includes('X-Spam-Flag: YES'), scored && spam.verdict.result === 'scored' && spam.verdict.score >= as.spam_score && spamAction !== 'off', label);
                // A scan that failed and was let through says so.
                assert.equal(d.add.some((h) => h.startsWith('X-Mailwarden-Virus: not scanned')), (vName === 'error' && avErr === 'accept') || vName === 'too_big', label);
                assert.equal(d.add.some((h) => h.startsWith('X-Mailwarden-Spam: not scanned')), (sName === 'error' && asErr === 'accept') || sName === 'too_big', label);
                // Forged copies of our headers go when the engine looked (or tried to).
                assert.equal(d.remove.includes('X-Spam-Flag'), sName !== 'disabled', label);
                n++;
              }
  assert.equal(n, 3 * 2 * 3 * 2 * 2 * virusCases.length * spamCases.length);
});

test('the log fields say which engine looked and what it found', () => {
  const d = decideScan({ antivirus: { ...defaultAntivirus(), enabled: true }, antispam: { ...defaultAntispam(), enabled: true }, virus: virusCases[4]![1], spam: spamCases[2]![1] });
  assert.deepEqual(d.log.virus, { scanned: true, engine: 'clamd', ms: 3, verdict: 'infected', name: 'Eicar-Test.UNOFFICIAL' });
  assert.equal(d.log.spam.engine, 'spamassassin');
  assert.equal(d.log.spam.score, 1.2);
  assert.equal(d.reply?.text, 'Message refused: malware found (Eicar-Test.UNOFFICIAL)');
  const r = decideScan({ antivirus: defaultAntivirus(), antispam: defaultAntispam(), virus: { scanned: false, why: 'relayed' }, spam: { scanned: false, why: 'relayed' } });
  assert.deepEqual(r.log, { virus: { scanned: false, why: 'relayed' }, spam: { scanned: false, why: 'relayed' } });
  assert.deepEqual(r.add, []);
  assert.equal(r.action, 'accept');
});

test('a long list of rules is folded below 78 octets per line', () => {
  const symbols = Array.from({ length: 40 }, (_, i) => `SOME_LONG_RULE_NAME_${i}`);
  const d = decideScan({
    antivirus: defaultAntivirus(),
    antispam: { ...defaultAntispam(), enabled: true },
    virus: { scanned: false, why: 'disabled' },
    spam: { scanned: true, engine: 'spamassassin', verdict: { result: 'scored', score: 2, required: 5, symbols }, ms: 1 },
  });
  const status = d.add.find((h) => h.startsWith('X-Spam-Status'))!;
  for (const line of status.split('\r\n')) assert.ok(line.length <= 78, line);
  assert.ok(status.split('\r\n').slice(1).every((l) => l.startsWith('\t')));
  assert.match(status.split('\r\n')[1] ?? '', /^\ttests=SOME_LONG_RULE_NAME_0,/, 'the list starts on the tests= line');
  assert.equal(status.replace(/\r\n\t/g, '').match(/SOME_LONG_RULE_NAME_/g)?.length, 40);
  assert.match(status, /^X-Spam-Status: No, score=2\.0 required=5\.0 engine=spamassassin/);
});

test('text from an engine cannot break a header or a reply', () => {
  assert.equal(safeText('Bad\r\nX-Injected: yes'), 'Bad X-Injected: yes');
  assert.equal(safeText('é\u0000name'), 'name');
  assert.equal(safeText('x'.repeat(300)).length, 200);
  const d = decideScan({
    antivirus: { ...defaultAntivirus(), enabled: true, action: 'quarantine' },
    antispam: defaultAntispam(),
    virus: { scanned: true, verdict: { result: 'infected', name: 'Evil\r\nBcc: victim@example.com' }, ms: 1 },
    spam: { scanned: false, why: 'disabled' },
  });
  assert.ok(d.add.every((h) => !/[\r\n]/.test(h)));
  assert.deepEqual(d.add, ['X-Mailwarden-Virus: infected (Evil Bcc: victim@example.com)']);
});
