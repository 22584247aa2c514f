// The content rules' header and body expressions through the real daemon
// (test/smtp harness): an expression that backtracks for minutes on a crafted
// body (one validation cannot see as slow) answers that message 451 4.7.1
// within the time bound, while the daemon keeps answering another
// connection meanwhile (the expression runs in a worker thread, not on the
// event loop); after it, a fresh worker matches the next message as usual.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relayDoc, startRelay, RawClient } from '../smtp/harness.ts';
import { compileRuleRegex } from '../../src/content/rule-regex.ts';

// Exponential on "aaaa…" ("b?" may be empty, so each "a" can be taken by either branch), yet its branches start differently.
const CATASTROPHIC = '(b?a|a)*c';

const CONTENT = {
  rules: [
    { name: 'slow', match: { body: CATASTROPHIC }, action: 'tag' },
    { name: 'money', match: { body: 'wire the money' }, action: 'reject' },
    { name: 'phish', match: { header: { name: 'Subject', regex: 'password.*reset' } }, action: 'reject' },
  ],
};

async function open(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  assert.match((await c.reply()) ?? '', /^220 /);
  return c;
}

async function send(c: RawClient, subject: string, body: string): Promise<void> {
  assert.match((await c.cmd('EHLO client.example')) ?? '', /^250[ -]/);
  assert.match((await c.cmd('MAIL FROM:<sender@outside.example>')) ?? '', /^250 /);
  assert.match((await c.cmd('RCPT TO:<user@example.com>')) ?? '', /^250 /);
  assert.match((await c.cmd('DATA')) ?? '', /^354 /);
  c.write(`From: sender@outside.example\r\nTo: user@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n.\r\n`);
}

test('a catastrophic body expression: 451 4.7.1 within the bound, the daemon answers meanwhile, the next message is matched', async (t) => {
  assert.ok('re' in compileRuleRegex(CATASTROPHIC), 'validation lets this one through: the time bound is what holds');
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: ['127.0.0.23:25'] } }], content: CONTENT });
  const relay = await startRelay(t, doc, ports);

  const a = await open(ports.mx);
  t.after(() => a.end());
  await send(a, 'hello', 'a'.repeat(250));
  const sentAt = performance.now();
  const replyA = a.reply(10_000).then((r) => ({ r, at: performance.now() }));

  // Another client, while the first message's expression runs: greeted and answered.
  const b = await open(ports.mx);
  t.after(() => b.end());
  assert.match((await b.cmd('EHLO other.example')) ?? '', /^250[ -]/);
  const answeredAt = performance.now();

  const { r, at } = await replyA;
  assert.match(r ?? '(no reply)', /^451 4\.7\.1 /);
  assert.ok(answeredAt < at, 'the other connection was answered before the slow message got its reply');
  assert.ok(at - sentAt < 5000, `451 after ${Math.round(at - sentAt)} ms`);
  assert.doesNotMatch(r!, /b\?a/, 'the reply does not quote the expression');
  const logged = await relay.waitLog((l) => l.rule === 'content.expression_timeout');
  assert.equal((logged.checks as { content: { rule: string } }).content.rule, 'slow');

  // The next message, on the other connection: a fresh worker matches the body rule; the reply names the rule only.
  await b.cmd('RSET');
  assert.match((await b.cmd('MAIL FROM:<sender@outside.example>')) ?? '', /^250 /);
  assert.match((await b.cmd('RCPT TO:<user@example.com>')) ?? '', /^250 /);
  assert.match((await b.cmd('DATA')) ?? '', /^354 /);
  b.write('From: sender@outside.example\r\nTo: user@example.com\r\nSubject: hi\r\n\r\nplease wire the money today\r\n.\r\n');
  const money = (await b.reply()) ?? '(no reply)';
  assert.equal(money.trim(), '550 5.7.1 Message refused by the content policy (content rule money)');
  const refused = await relay.waitLog((l) => l.rule === 'content.rules[money]');
  assert.match(JSON.stringify(refused.checks), /text of part 1 matches \/wire the money\//, 'the details stay in the log');

  // A header rule, too: matched in the worker, the reply generic.
  await b.cmd('RSET');
  assert.match((await b.cmd('MAIL FROM:<sender@outside.example>')) ?? '', /^250 /);
  assert.match((await b.cmd('RCPT TO:<user@example.com>')) ?? '', /^250 /);
  assert.match((await b.cmd('DATA')) ?? '', /^354 /);
  b.write('From: sender@outside.example\r\nTo: user@example.com\r\nSubject: Your PASSWORD needs a reset\r\n\r\nhello\r\n.\r\n');
  assert.equal(((await b.reply()) ?? '(no reply)').trim(), '550 5.7.1 Message refused by the content policy (content rule phish)');
});
