// `mailwarden track` prints what senders wrote (Message-ID, Subject, HELO,
// addresses, replies): its text output must not carry a terminal escape
// (ESC, BEL, other C0 and C1 controls) or a bidi override a sender put in
// them, which would clear the administrator's screen, retitle the window or
// make a line read otherwise. The CLI in its own process on a data directory
// whose tracking.db holds such an entry; --json keeps the values as they are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../smtp/harness.ts';
import { SqliteTrackingStore } from '../../src/tracking/sqlite-tracking-store.ts';
import { entry } from '../tracking/contract.ts';

const ID = 'zzzzzzzzzzzzzzz1';
const ESC = '\x1b';
// Clear screen, window title (OSC 0 … BEL), C1 CSI, DEL, a bidi override and an isolate, a tab and a newline.
const HOSTILE = `x${ESC}[2J${ESC}]0;pwned\x07y\x9b31m\x7f\u202etxt.exe\u2066z\u2069\t\nend`;

/** A byte a terminal acts on (every C0 but the newline, DEL, C1) or a bidi control. */
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

test('track --id and the search table show hostile values escaped; --json keeps them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-track-esc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal((await runCli(['init', '--data', dir])).status, 0);
  const store = new SqliteTrackingStore(join(dir, 'tracking.db'));
  const at = Date.now() - 60_000;
  await store.write({
    entries: [entry({ key: `${ID}:0`, at, updated: at, queue_id: ID, helo: HOSTILE, sender: `a${ESC}[31m@hostile.test`, recipient: 'b\u202e@hostile.test', message_id: HOSTILE, subject: HOSTILE, reply: `250 ${HOSTILE}`, rule: `rule\x07 9` })],
    updates: [],
    events: [
      { at, cid: 'c1', tx: 0, queue_id: null, event: 'connect', fields: { client: '192.0.2.1', helo: HOSTILE } },
      { at: at + 1, cid: 'c1', tx: 1, queue_id: ID, event: `queued${ESC}[1A`, fields: { id: ID, message_id: HOSTILE, subject: HOSTILE, sender: `a${ESC}[31m@hostile.test` } },
    ],
  });
  await store.close();

  const timeline = await runCli(['track', '--data', dir, '--id', ID]);
  assert.equal(timeline.status, 0, timeline.stderr);
  const search = await runCli(['track', '--data', dir, '--from', '@hostile.test']);
  assert.equal(search.status, 0, search.stderr);
  for (const [name, out] of [['--id', timeline.stdout], ['search', search.stdout]] as const) {
    const bad = UNSAFE.exec(out);
    assert.equal(bad, null, `${name} printed U+${bad?.[0].codePointAt(0)?.toString(16).padStart(4, '0')} raw:\n${JSON.stringify(out)}`);
  }
  // Escaped, not dropped: the administrator sees what was sent.
  // A quoted field is in JSON's escapes (\u001b, \t, \n); what JSON leaves raw (C1, DEL, bidi) in \xNN / \uNNNN.
  const shown = String.raw`"x\u001b[2J\u001b]0;pwned\u0007y\x9b31m\x7f\u202etxt.exe\u2066z\u2069\t\nend"`;
  assert.ok(timeline.stdout.includes(`helo=${shown}`), timeline.stdout);
  assert.ok(timeline.stdout.includes(`message_id=${shown} subject=${shown}`), timeline.stdout);
  assert.match(timeline.stdout, /from a\\x1b\[31m@hostile\.test, client/);
  assert.match(timeline.stdout, /queued\\x1b\[1A/);
  assert.match(search.stdout, /a\\x1b\[31m@hostile\.test\s+b\\u202e@hostile\.test/);
  assert.match(search.stdout, /rule\\x07 9/);

  const json = await runCli(['track', '--data', dir, '--id', ID, '--json']);
  assert.equal(json.status, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.entries[0].message_id, HOSTILE);
  assert.equal(parsed.events[1].fields.subject, HOSTILE);
});
