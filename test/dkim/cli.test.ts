// `mailwarden dkim keygen|list|check` as an administrator runs them, on a data
// directory of the test's own: keygen --add puts the key into the settings;
// list shows the record to publish and never the secret; check looks the
// record up through dns.servers (the test DNS server) and exits 0 on a match,
// 1 on another key, a missing record or an unknown domain; usage errors exit 2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mailwarden, tempDir } from '../cli/helpers.ts';
import { dnsmasqMissing, startDns } from '../delivery/dns-server.ts';
import { generateKey, dnsRecord, parsePrivateKey } from '../../src/dkim/keys.ts';

const skip = dnsmasqMissing();

test('dkim keygen --add, list, check: match, mismatch, missing; exit statuses', { skip }, async (t) => {
  const data = tempDir(t);
  const other = dnsRecord('s1', 'example.org', parsePrivateKey(generateKey('ed25519-sha256', 0), 'ed25519-sha256'));
  const base = { hostname: 'mx.example.net', admin: { enabled: false } };
  const file = join(data, 'base.yaml');
  writeFileSync(file, stringify(base));
  assert.equal((await mailwarden(['config', 'import', file, '--data', data])).status, 0);

  const gen = await mailwarden(['dkim', 'keygen', 'example.org', '--selector', 's1', '--algorithm', 'ed25519-sha256', '--add', '--data', data]);
  assert.equal(gen.status, 0, gen.stderr);
  const pem = join(data, 'dkim', 's1._domainkey.example.org.pem');
  assert.equal(statSync(pem).mode & 0o777, 0o600);
  const printed = /name: {2}(\S+)\nvalue: (.+)\n/.exec(gen.stdout);
  assert.ok(printed, gen.stdout);
  assert.equal(printed[1], 's1._domainkey.example.org');
  const gen2 = await mailwarden(['dkim', 'keygen', 'example.org', '--selector', 's2', '--add', '--bits', '1024', '--data', data, '--json']);
  assert.equal(gen2.status, 0, gen2.stderr);
  const s2 = JSON.parse(gen2.stdout) as { record: { name: string; value: string } };
  // Never over a key that exists.
  const again = await mailwarden(['dkim', 'keygen', 'example.org', '--selector', 's1', '--data', data]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /exists/);
  assert.equal((await mailwarden(['dkim', 'keygen', 'example.org', '--selector', 's9', '--algorithm', 'dsa', '--data', data])).status, 2);

  const list = await mailwarden(['dkim', 'list', '--json', '--data', data]);
  assert.equal(list.status, 0, list.stderr);
  const views = JSON.parse(list.stdout) as { sign: string; keys: { selector: string; record: { value: string } }[] };
  assert.equal(views.sign, 'relayed');
  assert.deepEqual(views.keys.map((k) => [k.selector, k.record.value]), [['s1', printed[2]], ['s2', s2.record.value]]);
  assert.doesNotMatch(list.stdout, /PRIVATE KEY/);

  // s1 published as keygen printed it, s2 published with another key; nothing at s3.
  const dns = await startDns(t, { txt: [{ name: 's1._domainkey.example.org', text: printed[2] ?? '' }, { name: 's2._domainkey.example.org', text: other.value.replace('k=ed25519', 'k=rsa') }] });
  writeFileSync(file, stringify({ ...base, dns: { servers: [dns.server] }, dkim: { keys: [{ domain: 'example.org', selector: 's1', algorithm: 'ed25519-sha256', key_file: pem }, { domain: 'example.org', selector: 's2', key_file: join(data, 'dkim', 's2._domainkey.example.org.pem') }, { domain: 'example.org', selector: 's3', key_file: pem, algorithm: 'ed25519-sha256' }] } }));
  assert.equal((await mailwarden(['config', 'import', file, '--data', data])).status, 0);

  const one = await mailwarden(['dkim', 'check', 'example.org', '--selector', 's1', '--data', data]);
  assert.equal(one.status, 0, one.stdout + one.stderr);
  assert.match(one.stdout, /^s1\._domainkey\.example\.org: match\n$/);
  const all = await mailwarden(['dkim', 'check', 'example.org', '--json', '--data', data]);
  assert.equal(all.status, 1);
  const results = JSON.parse(all.stdout) as { selector: string; status: string; reason?: string }[];
  assert.deepEqual(results.map((r) => [r.selector, r.status]), [['s1', 'match'], ['s2', 'mismatch'], ['s3', 'missing']]);
  assert.match(results[1]?.reason ?? '', /another public key/);
  const none = await mailwarden(['dkim', 'check', 'example.net', '--data', data]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no DKIM key configured for example.net/);
  // The queries went to the configured resolver.
  assert.ok(dns.queries().some((q) => q.type === 'TXT' && q.name === 's1._domainkey.example.org'));
});
