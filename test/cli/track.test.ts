// `mailwarden track` against recorded traffic (issue #20): the daemon with a
// sink as example.com's mail server, mail sent with swaks (delivered,
// deferred, bounced with its DSN, refused by rule 4); then the CLI, in its
// own process on the same data directory, with each flag, --json, paging by
// the printed next-page command, --id's timeline, and its exit statuses.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, swaksMissing } from '../smtp/harness.ts';
import { must, sendTraffic, startTrackedRelay, STRANGER, type Sent, type TrackedRelay } from '../api/tracking-traffic.ts';

const skip = swaksMissing();
const hooks: (() => void | Promise<void>)[] = [];
let r: TrackedRelay;
let sent: Sent;

before(async () => {
  if (skip) return;
  r = await startTrackedRelay({ after: (fn) => void hooks.push(fn) });
  sent = await sendTraffic(r.relay);
  // The daemon writes what it records in batches: a search over the API writes what waits first.
  await must(r.api, await r.api.login('admin', r.password), '/api/tracking');
});
after(async () => {
  for (const fn of hooks.reverse()) await fn();
});

const track = (...args: string[]) => runCli(['track', '--data', r.relay.dataDir, ...args]);

interface Entry {
  key: string;
  queue_id: string | null;
  sender: string | null;
  recipient: string | null;
  status: string;
}

async function json(...args: string[]): Promise<{ entries: Entry[]; next: string | null }> {
  const out = await track(...args, '--json');
  assert.equal(out.status, 0, `track ${args.join(' ')}: ${out.stderr}`);
  return JSON.parse(out.stdout);
}
const found = async (...args: string[]) => (await json(...args)).entries.map((e) => `${e.recipient} ${e.status}`).sort();

test('a table: time, queue id, status, sender, recipient, client, rule, reply; the last page says so', { skip }, async () => {
  const out = await track('--from', 'dave@example.com');
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^TIME\s+QUEUE ID\s+STATUS\s+SENDER\s+RECIPIENT\s+CLIENT\s+RULE\s+REPLY$/);
  assert.match(lines[1]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${sent.dave}  bounced\\s+dave@example\\.com\\s+nobody@example\\.com\\s+127\\.0\\.0\\.1\\s+delivery\\s+550 5\\.1\\.1 no such user here$`));
  assert.deepEqual(lines.slice(2), ['', '1 entry; this is the last page']);
  const refused = await track('--client', STRANGER);
  assert.match(refused.stdout, /\n\S+ \S+\s+-\s+refused\s+mallory@example\.net\s+victim@elsewhere\.test\s+127\.0\.0\.9\s+rule 4\s+554 Relaying denied\n/);
  const none = await track('--to', 'nobody@elsewhere.test');
  assert.deepEqual([none.status, none.stdout], [0, 'no entry matches\n']);
});

test('each flag, and --json as the API answers', { skip }, async () => {
  assert.deepEqual(await found('--from', 'ALICE@example.net'), ['bob@example.com delivered', 'bob@example.com delivered', 'bob@example.com delivered']);
  assert.deepEqual(await found('--from', '<>'), ['dave@example.com delivered']);
  assert.equal((await found('--from', '@example.net')).length, 6);
  assert.deepEqual(await found('--to', 'slow@example.com'), ['slow@example.com deferred']);
  assert.equal((await found('--to', '@example.com')).length, 7);
  assert.deepEqual(await found('--client', STRANGER), ['victim@elsewhere.test refused']);
  assert.deepEqual(await found('--message-id', '<carol-1@tracking.test>'), ['bob@example.com delivered', 'slow@example.com deferred']);
  assert.equal((await found('--subject', 'invoice')).length, 3);
  assert.deepEqual(await found('--status', 'bounced,refused'), ['nobody@example.com bounced', 'victim@elsewhere.test refused']);
  assert.deepEqual(await found('--status', 'bounced', '--status', 'deferred'), ['nobody@example.com bounced', 'slow@example.com deferred']);
  assert.equal((await found('--since', '1h')).length, 8);
  assert.deepEqual(await found('--since', new Date(sent.finished + 60_000).toISOString()), []);
  assert.deepEqual(await found('--until', new Date(sent.started - 1000).toISOString()), []);
  assert.deepEqual(await found('--from', '@example.net', '--status', 'deferred', '--since', '24h', '--until', new Date(Date.now() + 60_000).toISOString()), ['slow@example.com deferred']);
  const page = await json('--from', 'dave@example.com');
  assert.deepEqual(Object.keys(page).sort(), ['entries', 'next']);
  assert.deepEqual([page.entries[0]!.queue_id, page.next], [sent.dave, null]);
});

test('paging: --limit, and the next page\'s command as printed, until the last', { skip }, async () => {
  const all = (await json()).entries.map((e) => e.key);
  assert.equal(all.length, 8);
  const seen: string[] = [];
  let args = ['--limit', '3'];
  for (let page = 1; ; page++) {
    const j = await json(...args);
    seen.push(...j.entries.map((e) => e.key));
    const text = await track(...args);
    const next = /the next page: mailwarden (.*) --cursor (\S+)$/m.exec(text.stdout);
    if (page < 3) {
      assert.ok(next, `page ${page} names the next: ${text.stdout}`);
      assert.equal(next[2], j.next);
      // The same command again, with the new cursor: run it as printed (its words need no quoting here).
      args = next[1]!.split(' ').slice(3).concat('--cursor', next[2]!);
      assert.deepEqual(next[1]!.split(' ').slice(0, 3), ['track', '--data', r.relay.dataDir]);
    } else {
      assert.equal(next, null);
      assert.match(text.stdout, /\n2 entries; this is the last page\n$/);
      break;
    }
  }
  assert.deepEqual(seen, all);
  const bad = await track('--cursor', 'bm90LWEtY3Vyc29y');
  assert.deepEqual([bad.status, bad.stderr.trim()], [2, 'mailwarden: --cursor: the cursor is not one a search gave']);
});

test('--id: the timeline (entries, then events with the decisions, the delivery reply, the DSN); unknown is exit 1', { skip }, async () => {
  const out = await track('--id', sent.dave);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`^message ${sent.dave} from dave@example\\.com, client 127\\.0\\.0\\.1 \\(connection \\S+\\): 1 recipient, \\d+ events\\n`));
  assert.match(out.stdout, /\nEVENTS\n/);
  const events = out.stdout.split('\nEVENTS\n')[1]!.trimEnd().split('\n');
  const names = events.map((l) => l.split(/\s+/)[2]);
  for (const e of ['connect', 'rcpt', 'queued', 'delivery', 'dsn.queued']) assert.ok(names.includes(e), `${e} in ${names.join(',')}`);
  assert.match(events.find((l) => / rcpt /.test(l))!, /action=accept code=250 kind=inbound rule="rule 3"|rule="rule 3"/);
  assert.match(events.find((l) => / delivery /.test(l))!, /status=failed .*response="550 5\.1\.1 no such user here"/);
  assert.match(events.find((l) => / dsn\.queued /.test(l))!, new RegExp(`id=${sent.dsn}`));
  const j = JSON.parse((await track('--id', sent.dave, '--json')).stdout);
  assert.deepEqual([j.entries.length, j.entries[0].status, j.events.some((e: { event: string }) => e.event === 'delivery')], [1, 'bounced', true]);
  const [refused] = (await json('--client', STRANGER)).entries;
  const rt = await track('--id', refused!.key);
  assert.match(rt.stdout, new RegExp(`^transaction ${refused!.key} from mallory@example\\.net, client ${STRANGER.replace(/\./g, '\\.')} \\(connection \\S+\\): 1 recipient, `));
  assert.match(rt.stdout, /rcpt\s+.*action=reject.*rule="rule 4"/);
  const unknown = await track('--id', 'zzzzzzzzzzzzzzzz');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /nothing is recorded for zzzzzzzzzzzzzzzz/);
});

test('bad arguments are exit 2 with the flag named; a missing data directory is exit 1', { skip }, async () => {
  const cases: [string[], RegExp][] = [
    [['--status', 'lost'], /--status: "lost" is not a status/],
    [['--since', 'yesterday'], /--since: "yesterday" is neither a time/],
    [['--since', '1h', '--until', '2h'], /--since: is not before --until/],
    [['--limit', '0'], /--limit: "0" is not a number from 1 to 500/],
    [['--client', '10.1.2'], /--client: "10\.1\.2" is not a dotted-quad/],
    [['--message-id', ''], /--message-id: is empty/],
    [['--id', sent.dave, '--status', 'bounced'], /--id shows one message's timeline and takes no search option \(--status\)/],
    [['--id', 'a b'], /--id: "a b" is neither a queue id nor an entry key/],
    [['--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const out = await track(...args);
    assert.equal(out.status, 2, `${args.join(' ')}: ${out.stderr}`);
    assert.match(out.stderr, re, args.join(' '));
    assert.equal(out.stdout, '');
  }
  const missing = await runCli(['track', '--data', join(r.relay.dataDir, 'no-such-dir')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /there is no data directory .*no-such-dir: check --data/);
});

test('a data directory where nothing was recorded: nothing matches, and no tracking.db is made', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-track-'));
  try {
    assert.equal((await runCli(['init', '--data', dir])).status, 0);
    const out = await runCli(['track', '--data', dir, '--from', 'alice@example.net']);
    assert.deepEqual([out.status, out.stdout], [0, 'no entry matches\n']);
    assert.deepEqual([(await runCli(['track', '--data', dir, '--json'])).stdout], ['{\n  "entries": [],\n  "next": null\n}\n']);
    assert.equal((await runCli(['track', '--data', dir, '--id', 'zzzzzzzzzzzzzzzz'])).status, 1);
    assert.equal(existsSync(join(dir, 'tracking.db')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tracking switched off in the settings: exit 1, saying so', { skip }, async () => {
  const me = await r.api.login('admin', r.password);
  const settings = await must(r.api, me, '/api/settings');
  const put = async (enabled: boolean) => {
    const a = await r.api.call('PUT', '/api/settings', { body: { document: { ...settings.document, tracking: { ...settings.document.tracking, enabled } } }, as: me });
    assert.equal(a.status, 200, a.text);
  };
  await put(false);
  try {
    const out = await track('--from', 'alice@example.net');
    assert.equal(out.status, 1);
    assert.match(out.stderr, /message tracking is off \(tracking\.enabled: false in the settings\)/);
  } finally {
    await put(true);
  }
  assert.equal((await track('--from', 'alice@example.net')).status, 0);
});
