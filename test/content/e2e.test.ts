// The content rules through the real daemon (test/smtp harness), with real
// SMTP clients (swaks, and nodemailer's SMTP transport): reject answers the
// client's "." with 550 5.7.1 "Message refused: attachment ... is not allowed"; quarantine puts the
// message into the quarantine with its rule; tag adds X-Mailwarden-Content
// (and the subject tag) that the next hop receives. Each verdict with its
// hits in the message's log line (`content` in the checks of the line).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { relayDoc, startRelay, swaks, swaksMissing, tempDataDir } from '../smtp/harness.ts';
import { startSink } from '../delivery/sink.ts';
import { quarantined } from '../scan/scan-helpers.ts';
import { storedEnvelope } from '../support/spool-files.ts';
import { composed, pyMessage, pyZip } from './messages.ts';

const CONTENT = {
  subject_tag: '[checked]',
  rules: [
    { name: 'no-exe', match: { extension: ['exe'] }, action: 'reject' },
    { name: 'hold-scripts', match: { extension: ['js', 'vbs'], archive: true }, action: 'quarantine' },
    { name: 'mark-invoices', match: { filename: '^invoice', mime_type: ['application/pdf'] }, action: 'tag' },
  ],
};

test('reject, quarantine and tag through the daemon', { skip: swaksMissing() }, async (t) => {
  const sink = await startSink({ address: '127.0.0.23' });
  t.after(() => sink.close());
  const { doc, ports } = await relayDoc({ domains: [{ name: 'example.com', route: { hosts: [`127.0.0.23:${sink.port}`] } }], delivery: { enabled: true }, content: CONTENT });
  const dataDir = tempDataDir(t);
  const relay = await startRelay(t, doc, ports, dataDir);

  // reject: swaks sends a message written by Python's email package; the "." gets the 550.
  const exe = join(dataDir, '..', `exe-${process.pid}.eml`);
  writeFileSync(exe, pyMessage({ to: 'user@example.com', attachments: [{ filename: 'Rechnung.pdf.exe', style: 'rfc2231' }] }));
  const r = await swaks(['--server', '127.0.0.1', '--port', String(ports.mx), '--from', 'sender@outside.example', '--to', 'user@example.com', '--data', `@${exe}`]);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /<\*\* 550 5\.7\.1 Message refused: attachment "Rechnung\.pdf\.exe" is not allowed \(content rule no-exe\)/);
  const refused = await relay.waitLog((l) => l.event === 'antispam.refused' && l.rule === 'content.rules[no-exe]');
  const log = (refused.checks as { content: { action: string; hits: { rule: string; part: number }[] } }).content;
  assert.equal(log.action, 'reject');
  assert.deepEqual(log.hits.map((h) => [h.rule, h.part]), [['no-exe', 3]]);

  // quarantine: nodemailer as the client, a .js inside a nested zip.
  const transport = createTransport({ host: '127.0.0.1', port: ports.mx, secure: false, ignoreTLS: true, tls: { rejectUnauthorized: false } });
  t.after(() => transport.close());
  const zip = pyZip({ entries: [{ name: 'inner.zip', zip: { entries: [{ name: 'run.js', text: 'WScript.Echo(1)' }] } }] });
  const sent = await transport.sendMail({ from: 'sender@outside.example', to: 'user@example.com', subject: 'documents', text: 'see attached', attachments: [{ filename: 'docs.zip', content: zip }] });
  const id = /queued as ([0-9a-z]{16})/.exec(sent.response)?.[1];
  assert.ok(id, sent.response);
  const q = await relay.waitLog((l) => l.event === 'quarantined' && l.id === id);
  assert.equal(q.rule, 'content:hold-scripts');
  assert.match(String(q.reason), /extension js of run\.js \(inside docs\.zip › inner\.zip\)/);
  const qlog = ((q.scan as { checks: Record<string, unknown> }).checks.content as { action: string; archive_names: number });
  assert.equal(qlog.action, 'quarantine');
  assert.equal(qlog.archive_names, 2);
  assert.ok(quarantined(relay).includes(id), 'in the quarantine');
  const envelope = storedEnvelope(join(relay.dataDir, 'spool', 'quarantine'), id);
  assert.equal(envelope.quarantine?.rule, 'content:hold-scripts');

  // tag: the next hop receives the field and the subject tag; any field sent in is replaced.
  const pdf = await composed({ subject: 'your invoice', headers: { 'X-Mailwarden-Content': 'forged (nothing)' }, attachments: [{ filename: 'Invoice-2026.pdf', content: '%PDF-1.4', contentType: 'application/pdf' }] });
  const tagged = await transport.sendMail({ envelope: { from: 'sender@outside.example', to: ['user@example.com'] }, raw: pdf });
  const tid = /queued as ([0-9a-z]{16})/.exec(tagged.response)?.[1];
  assert.ok(tid, tagged.response);
  const queuedLine = await relay.waitLog((l) => l.event === 'queued' && l.id === tid);
  assert.equal((queuedLine.scan as { checks: { content: { action: string } } }).checks.content.action, 'tag');
  const [m] = await sink.waitFor(1);
  assert.ok(m);
  const text = m.raw.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  assert.match(head, /^X-Mailwarden-Content: mark-invoices \(type application\/pdf of Invoice-2026\.pdf, file name Invoice-2026\.pdf matches \/\^invoice\/\)$/m);
  assert.equal(head.match(/^X-Mailwarden-Content:/gim)?.length, 1, 'the forged field is gone');
  assert.match(head, /^Subject: \[checked\] your invoice$/m);
  assert.match(text, /%PDF-1\.4|JVBERi0xLjQ=/, 'the attachment is delivered');

  // A clean message passes untouched by the rules.
  const clean = await transport.sendMail({ from: 'sender@outside.example', to: 'user@example.com', subject: 'hello', text: 'plain' });
  assert.match(clean.response, /queued as/);
  const [, c] = await sink.waitFor(2);
  assert.ok(c);
  assert.doesNotMatch(c.raw.toString('latin1'), /X-Mailwarden-Content/);
});
