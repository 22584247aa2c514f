// The check content-rules through the real check runner (src/checks/runner.ts)
// with the registered checks: each action's verdict (reject: 550 5.7.1 with
// rule content.rules[NAME]; quarantine: rule content:NAME; strip: a pass with
// the body rewrite; tag: a header edit), the `content` log fields, an error
// while reading (451 4.3.0, fail closed), the direction from the relay right,
// and no cost at all when the rules are off.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataInput } from '../../src/checks/check.ts';
import { CHECKS } from '../../src/checks/registry.ts';
import { CheckRunner, type SessionBase } from '../../src/checks/runner.ts';
import { CheckServices } from '../../src/checks/services.ts';
import type { MessageSource } from '../../src/scan/spam-verdict.ts';
import { client, snapshotOf } from '../policy/helpers.ts';
import { composed, pyZip, sourceOf } from './messages.ts';

const RULES = [
  { name: 'block-exe', match: { extension: ['exe'] }, action: 'reject' },
  { name: 'hold-js', match: { extension: ['js'] }, action: 'quarantine' },
  { name: 'drop-bat', match: { extension: ['bat'] }, action: 'strip' },
  { name: 'mark-pdf', match: { extension: ['pdf'] }, action: 'tag' },
  { name: 'out-only', match: { extension: ['docm'] }, direction: 'relayed', action: 'reject' },
];

function snap(content: unknown) {
  return snapshotOf({
    hostname: 'mx.test.example',
    networks: [{ name: 'app', type: 'host', address: '192.0.2.1' }],
    domains: [{ name: 'example.com', route: { hosts: ['10.9.9.9:25'] } }],
    relaying: { allowed_hosts: ['app'] },
    content,
  });
}

const runner = new CheckRunner(CHECKS.filter((c) => c.name === 'content'), new CheckServices());

async function run(content: unknown, msg: Buffer | MessageSource, ip = '203.0.113.7') {
  const s = snap(content);
  const base: SessionBase = { snap: s, listener: s.settings.listeners[0] ?? null, client: client(ip), user: null, helo: 'client.example', localAddress: null, memos: new Map() };
  const source = Buffer.isBuffer(msg) ? sourceOf(msg) : msg;
  const input: DataInput = { id: 'Q1', sender: 'a@example.org', recipients: ['u@example.com'], received: [], origin: { text: ip, ip: 0n, header: null }, added: { points: 0, symbols: [], headers: [], auth: [] }, contents: async () => source };
  return runner.run('data', base, input);
}

async function collect(it: AsyncIterable<Buffer>): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out).toString('latin1');
}

test('reject: 550 5.7.1 "Message refused: ..." with rule content.rules[NAME], and the hits in the log', async () => {
  const r = await run({ rules: RULES }, await composed({ attachments: [{ filename: 'a.exe', content: 'MZ' }, { filename: 'b.pdf', content: 'x' }] }));
  assert.equal(r.outcome, 'refuse');
  assert.equal(r.error?.code, 550);
  assert.equal(r.error?.enhanced, '5.7.1');
  assert.equal(r.error!.text, 'Message refused: attachment "a.exe" is not allowed (content rule block-exe)');
  assert.match(r.error!.reason, /extension exe of a\.exe/, 'the details stay in the reason (the log)');
  assert.equal(r.error?.rule, 'content.rules[block-exe]');
  const log = r.log.content as { action: string; hits: { rule: string; part: number }[]; parts: number };
  assert.equal(log.action, 'reject');
  assert.deepEqual(log.hits.map((h) => [h.rule, h.part]), [['block-exe', 3], ['mark-pdf', 4]], 'every hit, the weaker one too');
  assert.equal(log.parts, 4);
});

test('reject replies name the rule, never its expressions: the attachment (the archive for a name inside one), or the content policy', async () => {
  const zipped = await composed({ attachments: [{ filename: 'docs "q".zip', content: pyZip({ entries: [{ name: 'run.exe', text: 'MZ' }] }) }] });
  const z = await run({ rules: [{ name: 'zexe', match: { extension: ['exe'], archive: true }, action: 'reject' }] }, zipped);
  assert.equal(z.error?.text, 'Message refused: attachment "docs ?q?.zip" is not allowed (content rule zexe)');
  const long = await composed({ attachments: [{ filename: `${'x'.repeat(300)}\u202e.exe`, content: 'MZ' }] });
  const l = await run({ rules: RULES }, long);
  assert.ok(l.error!.text.length < 200 && /^Message refused: attachment "x+~" is not allowed \(content rule block-exe\)$/.test(l.error!.text), l.error!.text);
  const phish = [{ name: 'phish', match: { body: 'verify your account', header: { name: 'Subject', regex: 'password.*reset' } }, action: 'reject' }];
  const p = await run({ rules: phish }, await composed({ subject: 'Password reset', text: 'Please verify your account.' }));
  assert.equal(p.error?.code, 550);
  assert.equal(p.error?.text, 'Message refused by the content policy (content rule phish)');
  assert.match(p.error!.reason, /matches \/verify your account\/.*matches \/password\.\*reset\//, 'the expressions in the log only');
  const big = await run({ rules: [{ name: 'big', match: { size_over: 10 }, action: 'reject' }] }, await composed({ text: 'long enough' }));
  assert.equal(big.error?.text, 'Message refused by the content policy (content rule big)');
});

test('an expression past the time bound: 451 4.7.1, rule content.expression_timeout, the rule named in the log', async () => {
  const started = performance.now();
  const r = await run({ rules: [{ name: 'slow', match: { body: '(b?a|a)*c' }, action: 'tag' }] }, await composed({ text: 'a'.repeat(200) }));
  assert.ok(performance.now() - started < 5000);
  assert.equal(r.outcome, 'refuse');
  assert.equal(r.error?.code, 451);
  assert.equal(r.error?.enhanced, '4.7.1');
  assert.equal(r.error?.rule, 'content.expression_timeout');
  assert.equal((r.log.content as { rule: string }).rule, 'slow');
  // The next message gets a fresh worker.
  const ok = await run({ rules: [{ name: 'fine', match: { body: 'pay now' }, action: 'reject' }] }, await composed({ text: 'please pay now' }));
  assert.equal(ok.error?.code, 550);
});

test('quarantine: kind quarantine with rule content:NAME', async () => {
  const r = await run({ rules: RULES }, await composed({ attachments: [{ filename: 'x.js', content: 'alert(1)' }, { filename: 'y.bat', content: 'x' }] }));
  assert.equal(r.outcome, 'quarantine');
  assert.equal(r.rule, 'content:hold-js');
  assert.match(r.reason!, /extension js of x\.js/);
});

test('strip: a pass with a rewrite that takes the part out and says so', async () => {
  const msg = await composed({ text: 'The body stays.', attachments: [{ filename: 'run.bat', content: 'echo bad' }, { filename: 'keep.txt', content: 'kept' }] });
  const r = await run({ rules: RULES }, msg);
  assert.equal(r.outcome, 'accept');
  assert.ok(r.rewrite);
  assert.match(r.rewrite.describe, /stripped 1 part \(3\)/);
  const out = await collect(r.rewrite.apply(sourceOf(msg)));
  assert.doesNotMatch(out, /name="?run\.bat/, 'the part is gone (its headers)');
  assert.doesNotMatch(out, /ZWNobyBiYWQ=/, 'the part body is gone');
  assert.match(out, /keep\.txt/);
  assert.match(out, /The body stays\./);
  assert.match(out, /removed from this message by the content rules of mx\.test\.example:/);
  assert.match(out, /^\* drop-bat: .*run\.bat/m, 'the notice says which part went and which rule took it');
  assert.deepEqual((r.log.content as { stripped: number[] }).stripped, [3]);
});

test('strip of the root of a single-part message becomes a quarantine, and says why', async () => {
  const msg = Buffer.from('From: a@example.org\r\nSubject: x\r\nContent-Type: application/octet-stream; name="run.bat"\r\n\r\nZWNobw==\r\n');
  const r = await run({ rules: RULES }, msg);
  assert.equal(r.outcome, 'quarantine');
  assert.equal(r.rule, 'content:drop-bat');
  assert.match(r.reason!, /strip cannot remove part 1, the root of the message, alone/);
  assert.match(String((r.log.content as Record<string, unknown>).instead_of_strip), /root of the message/);
});

test('tag: X-Mailwarden-Content fields (any sent in are removed) and the optional subject tag', async () => {
  const msg = await composed({ attachments: [{ filename: 'report.pdf', content: 'x' }] });
  const r = await run({ rules: RULES, subject_tag: '[attachment]' }, msg);
  assert.equal(r.outcome, 'accept');
  assert.deepEqual(r.edit, { add: ['X-Mailwarden-Content: mark-pdf (extension pdf of report.pdf)'], remove: ['X-Mailwarden-Content'], subjectTag: '[attachment]' });
  const plain = await run({ rules: RULES }, msg);
  assert.equal(plain.edit?.subjectTag, null);
});

test('the direction follows the relay right: a relay host gets the relayed rules', async () => {
  const msg = await composed({ attachments: [{ filename: 'macro.docm', content: 'x' }] });
  assert.equal((await run({ rules: RULES }, msg, '203.0.113.7')).outcome, 'accept', 'inbound: the relayed rule does not apply');
  const relayed = await run({ rules: RULES }, msg, '192.0.2.1');
  assert.equal(relayed.outcome, 'refuse');
  assert.equal(relayed.error?.rule, 'content.rules[out-only]');
});

test('an error while reading the message is a 451 4.3.0 (fail closed)', async () => {
  const broken: MessageSource = {
    size: 100,
    async *chunks() {
      yield Buffer.from('From: a@example.org\r\n');
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' });
    },
  };
  const r = await run({ rules: RULES }, broken);
  assert.equal(r.outcome, 'refuse');
  assert.equal(r.error?.code, 451);
  assert.equal(r.error?.enhanced, '4.3.0');
  assert.match(r.error!.reason, /content: EIO/);
});

test('off, or no rules: the check is not asked and reads nothing', async () => {
  let read = 0;
  const counting: MessageSource = {
    size: 10,
    async *chunks() {
      read++;
      yield Buffer.from('x');
    },
  };
  for (const content of [{ enabled: false }, { rules: [] }]) {
    const r = await run(content, counting);
    assert.equal(r.outcome, 'accept');
    assert.equal(r.log.content, undefined);
  }
  // Rules for the other direction only: asked, reads nothing.
  const r = await run({ rules: [RULES[4]] }, counting);
  assert.equal(r.outcome, 'accept');
  assert.equal(read, 0);
});

test('a one-part text message is read no further than its header (the bench\'s plain messages cost a header parse)', async () => {
  let pulled = 0;
  const body = Buffer.from(`From: a@example.org\r\nSubject: plain\r\nContent-Type: text/plain\r\n\r\n${'x'.repeat(78)}\r\n`.repeat(1).concat(`${'y'.repeat(78)}\r\n`.repeat(1300)));
  const source: MessageSource = {
    size: body.length,
    async *chunks() {
      for (let i = 0; i < body.length; i += 4096) {
        pulled++;
        yield body.subarray(i, i + 4096);
      }
    },
  };
  const r = await run({}, source);
  assert.equal(r.outcome, 'accept');
  assert.ok(pulled <= 2, `read ${pulled} chunks of ${Math.ceil(body.length / 4096)}`);
  // A body rule needs the text: then all of it is read.
  pulled = 0;
  const b = await run({ rules: [{ name: 'y', match: { body: 'y{78}' }, action: 'tag' }] }, source);
  assert.equal(b.edit?.add[0], 'X-Mailwarden-Content: y (text of part 1 matches /y{78}/)');
  assert.equal(pulled, Math.ceil(body.length / 4096));
  // A one-part message that is an attachment is read (its name and type count, a zip is sniffed).
  pulled = 0;
  const att = Buffer.from('From: a@example.org\r\nContent-Type: application/octet-stream; name="a.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVo=\r\n');
  const q = await run({}, { size: att.length, chunks: sourceOf(att).chunks });
  assert.equal(q.outcome, 'quarantine', 'the default rule');
  assert.equal(q.rule, 'content:executables');
});

test('a forged X-Mailwarden-Content field is removed from a message no tag rule matched (an edit only then)', async () => {
  const forged = Buffer.from('From: a@example.org\r\nX-Mailwarden-Content: clean (nothing)\r\nSubject: x\r\n\r\nbody\r\n');
  const r = await run({ rules: RULES }, forged);
  assert.equal(r.outcome, 'accept');
  assert.deepEqual(r.edit, { add: [], remove: ['X-Mailwarden-Content'], subjectTag: null });
  const clean = await run({ rules: RULES }, Buffer.from('From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n'));
  assert.equal(clean.edit, null, 'no field, no edit');
});
