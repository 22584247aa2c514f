// The impact preview over real recorded traffic (test/preview/recorded.ts):
// `mailwarden config preview FILE` (text and --json, its exit statuses) and
// POST /api/settings/preview ({document} and {section, value}) on a change
// that takes the relay right from printer-2 and alice and gives one to the
// stranger: printer-2's and alice's mail would now be refused, the stranger
// would now relay, the rest is unchanged. Then a harmless change (exit 0), an
// invalid file (exit 1, 400), bad days (exit 2, 400), and a tracking store
// that cannot be opened (exit 1, 503).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { restartRelay, runCli } from '../smtp/harness.ts';
import { ApiClient } from '../api/client.ts';
import { readFileSync } from 'node:fs';
import { ALICE_CLIENT, APP, INTERNET, PRINTER, riskyRelaying, settings, startRecorded, STRANGER } from './recorded.ts';
import type { ImpactPreview } from '../../src/preview/impact.ts';

/** The preview without its window (now-dependent): what two runs over the same recordings must agree on. */
const stable = (p: ImpactPreview) => ({ ...p, since: null, until: null });

test('impact preview over recorded traffic: the CLI (text, --json, exit status) and the API agree', async (t) => {
  const { relay, api, password } = await startRecorded(t);
  const me = await api.login('admin', password);
  const current = (await api.call('GET', '/api/settings', { as: me })).json as { revision: number; document: Record<string, unknown> };
  const file = (name: string, relaying: Record<string, unknown>) => {
    const f = join(relay.dataDir, name);
    writeFileSync(f, stringify({ ...current.document, relaying }));
    return f;
  };
  const cli = (...args: string[]) => runCli(['config', 'preview', ...args, '--data', relay.dataDir]);

  // --- the risky change, as text --------------------------------------------------------
  const risky = file('risky.yaml', riskyRelaying());
  const text = await cli(risky);
  assert.equal(text.status, 3, `exit 3: the change would refuse mail accepted now\n${text.stdout}\n${text.stderr}`);
  const out = text.stdout;
  assert.match(out, new RegExp(`^impact preview of ${risky.replace(/[.]/g, '\\.')} against revision ${current.revision}: 10 recorded recipients \\(5 distinct decisions\\)`, 'm'));
  assert.match(out, new RegExp(`^would now refuse: 3 recipients from ${PRINTER} \\(printer-2, rule 4\\) over 7 days$`, 'm'));
  assert.match(out, /^ {2}3: accept \(rule 4, relay\) -> reject 554 \(rule 4 at rcpt\): rule 4: partner\.example is not local and the client has no relay right: refused$/m);
  assert.match(out, /^ {2}senders: printer@ours\.example \(3\)$/m);
  assert.match(out, new RegExp(`^would now refuse: 2 recipients from ${ALICE_CLIENT} \\(rule 4\\) over 7 days$`, 'm'));
  assert.match(out, /^ {2}2: accept \(rule 4, relay\) -> reject 535 \(rule 4 at auth\)/m);
  assert.match(out, /^ {2}users: alice$/m);
  assert.match(out, /^ {2}listeners: submission$/m);
  assert.match(out, new RegExp(`^would now relay: 1 recipient from ${STRANGER} \\(partner, rule 4\\) over 7 days$`, 'm'));
  assert.match(out, /^CAUTION: would now refuse: 3 recipients from 127\.0\.0\.11 \(printer-2, rule 4\) and 2 recipients from 1 other client over 7 days; would now relay: 1 client$/m);
  for (const unchanged of [APP, INTERNET]) assert.ok(!out.includes(`from ${unchanged} `), `${unchanged} is not affected:\n${out}`);
  assert.match(text.stderr, /caution: .*risky\.yaml would refuse mail that the active revision accepts/);

  // --- as JSON, and the API with the whole document and with the section alone -----------
  const json = await cli(risky, '--json', '--days', '3');
  assert.equal(json.status, 3, json.stderr);
  const fromCli = JSON.parse(json.stdout) as ImpactPreview;
  assert.equal(fromCli.days, 3);
  assert.equal(fromCli.caution, true);
  assert.deepEqual(fromCli.would_now_refuse.map((g) => [g.client, g.network, g.rcpts, g.rules.map((r) => `${r.after.rule} ${r.after.stage} ${r.after.code}`)]), [
    [PRINTER, 'printer-2', 3, ['rule 4 rcpt 554']],
    [ALICE_CLIENT, null, 2, ['rule 4 auth 535']],
  ]);
  assert.deepEqual(fromCli.would_now_accept.map((g) => [g.client, g.network, g.rcpts, g.rules.map((r) => `${r.after.kind} ${r.after.rule}`)]), [[STRANGER, 'partner', 1, ['relay rule 4']]]);
  assert.deepEqual(fromCli.rule_changes, []);
  assert.deepEqual(fromCli.not_replayed, []);
  assert.deepEqual(fromCli.totals, { replayed_rcpts: 10, unchanged_rcpts: 4, would_now_refuse: { rcpts: 5, clients: 2 }, would_now_accept: { rcpts: 1, clients: 1, relay: 1, inbound: 0 }, rule_changes: { rcpts: 0, clients: 0 }, not_replayed: { rcpts: 0, tuples: 0 } });
  assert.deepEqual(fromCli.recorded.truncated, false);

  const byDocument = await api.call('POST', '/api/settings/preview', { body: { document: { ...current.document, relaying: riskyRelaying() }, days: 3 }, as: me });
  assert.equal(byDocument.status, 200, byDocument.text);
  assert.deepEqual(stable(byDocument.json), stable(fromCli), 'the API answers what the CLI prints');
  const bySection = await api.call('POST', '/api/settings/preview', { body: { section: 'relaying', value: riskyRelaying(), revision: current.revision, days: 3 }, as: me });
  assert.equal(bySection.status, 200, bySection.text);
  assert.deepEqual(stable(bySection.json), stable(fromCli));
  // A viewer may ask (it changes nothing).
  assert.equal((await api.call('POST', '/api/admins', { body: { name: 'watcher', password: 'watcher-password-1', role: 'viewer' }, as: me })).status, 201);
  const viewer = await api.login('watcher', 'watcher-password-1');
  const asViewer = await api.call('POST', '/api/settings/preview', { body: { section: 'relaying', value: riskyRelaying(), days: 3 }, as: viewer });
  assert.equal(asViewer.status, 200, asViewer.text);
  assert.equal(asViewer.json.caution, true);
  // Nothing was applied by any of it.
  assert.equal((await api.call('GET', '/api/settings', { as: me })).json.revision, current.revision);

  // --- a harmless change: exit 0 ----------------------------------------------------------
  const relaying = settings().relaying as Record<string, unknown>;
  const harmless = await cli(file('harmless.yaml', { ...relaying, allowed_hosts: ['office', 'partner'] }));
  assert.equal(harmless.status, 0, harmless.stderr);
  assert.match(harmless.stdout, /^would now relay: 1 client$/m);
  assert.doesNotMatch(harmless.stdout, /would now refuse|CAUTION/);

  // --- invalid: the findings, exit 1 / 400; bad days: exit 2 / 400 -----------------------
  const invalid = await cli(file('invalid.yaml', { ...relaying, allowed_hosts: ['ofice'] }));
  assert.equal(invalid.status, 1);
  assert.match(invalid.stderr, /error: relaying\.allowed_hosts\[0\]: unknown network object "ofice"/);
  assert.equal(invalid.stdout, '');
  const bad = await api.call('POST', '/api/settings/preview', { body: { section: 'relaying', value: { ...relaying, allowed_hosts: ['ofice'] } }, as: me });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.ok, false);
  assert.deepEqual(bad.json.errors.map((e: { path: string }) => e.path), ['relaying.allowed_hosts[0]']);
  assert.equal((await cli(risky, '--days', '0')).status, 2);
  assert.equal((await cli(risky, '--days', 'seven')).status, 2);
  assert.equal((await api.call('POST', '/api/settings/preview', { body: { section: 'relaying', value: relaying, days: 91 }, as: me })).status, 400);
  assert.equal((await api.call('POST', '/api/settings/preview', { body: { document: current.document, section: 'relaying', value: relaying }, as: me })).status, 400);
  // A stale revision: what would be applied is not what was previewed.
  assert.equal((await api.call('POST', '/api/settings/preview', { body: { section: 'relaying', value: relaying, revision: current.revision - 1 }, as: me })).status, 409);

  // --- a tracking store that cannot be opened: 503 and exit 1, and mail still flows --------
  assert.equal(await relay.stop(), 0);
  renameSync(join(relay.dataDir, 'tracking.db'), join(relay.dataDir, 'tracking.db.moved'));
  mkdirSync(join(relay.dataDir, 'tracking.db'));
  const broken = await restartRelay(t, relay.dataDir, relay.ports);
  const api2 = new ApiClient(broken.adminPort ?? 0, readFileSync(join(broken.dataDir, 'tls', 'cert.pem')));
  const me2 = await api2.login('admin', password);
  const down = await api2.call('POST', '/api/settings/preview', { body: { section: 'relaying', value: riskyRelaying() }, as: me2 });
  assert.equal(down.status, 503, down.text);
  // The daemon opened its tracking store at start and could not: the API says so, with where to look.
  assert.match(down.json.message, /message tracking is not running on this node: its store could not be opened at start/);
  const cliDown = await cli(risky);
  assert.equal(cliDown.status, 1);
  assert.match(cliDown.stderr, /the tracking store did not answer/);
});
