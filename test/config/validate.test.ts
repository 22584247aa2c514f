// Validation of the whole settings document: every error at once with its
// path, warnings apart (they never block), and the open-relay guard (rule 8)
// in every spelling of "everyone".

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from '../../src/config/validate.ts';
import { openRelayReasons } from '../../src/config/open-relay.ts';
import { formatFinding, type Finding } from '../../src/config/issues.ts';
import { parseSettingsText } from '../../src/config/text.ts';
import { embeddedDefaults } from '../../src/config/document.ts';
import { hashPassword } from '../../src/objects/password.ts';

// Test documents are plain untyped data, as they come from YAML.
type Doc = any;

const BOB_HASH = hashPassword('hunter2');

const FIXTURES = join(import.meta.dirname, '../fixtures');

/** A document with no error and no warning; each test breaks one thing. */
function base(): Doc {
  return {
    hostname: 'mx.example.com',
    listeners: [
      { name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx' },
      { name: 'submission', address: '127.0.0.1', port: 2587, mode: 'submission' },
    ],
    networks: [
      { name: 'localhost', type: 'host', address: '127.0.0.1' },
      { name: 'office', type: 'network', address: '10.1.0.0/16' },
      { name: 'isp-mx', type: 'host', address: '192.0.2.10' },
      { name: 'dmz', type: 'range', from: '10.2.0.10', to: '10.2.0.20' },
      { name: 'trusted', type: 'group', members: ['office', 'isp-mx'] },
      { name: 'spammers', type: 'network', address: '198.51.100.0/24' },
    ],
    groups: [{ name: 'staff' }],
    users: [
      { name: 'alice', password: 's3cret', groups: ['staff'] },
      { name: 'bob', password_hash: BOB_HASH, groups: [] },
    ],
    domains: [{ name: 'example.com', route: { hosts: ['10.1.2.3:25'] } }],
    relaying: {
      upstream_hosts: ['isp-mx'],
      upstream_only: false,
      authenticated_relay: { enabled: true, users: ['alice'], groups: ['staff'] },
      allowed_hosts: ['localhost', 'office'],
      blacklist: ['spammers'],
      scan_relayed: true,
      open_relay_acknowledged: false,
    },
    delivery: { smarthost: null },
    limits: { max_message_size: 52428800, max_recipients: 100 },
  };
}

function check(doc: Doc): { errors: string[]; warnings: string[]; rawErrors: Finding[]; rawWarnings: Finding[] } {
  const v = validate(doc);
  return { errors: v.errors.map(formatFinding), warnings: v.warnings.map(formatFinding), rawErrors: v.errors, rawWarnings: v.warnings };
}

/** The only error of `doc` is at `path`, and its message matches `re`. */
function onlyError(doc: Doc, path: string, re?: RegExp): Finding {
  const { rawErrors } = check(doc);
  assert.deepEqual(rawErrors.map((e) => e.path), [path], JSON.stringify(rawErrors));
  const e = rawErrors[0] as Finding;
  if (re) assert.match(e.message, re);
  return e;
}

function errorsAt(doc: Doc, path: string): Finding[] {
  return check(doc).rawErrors.filter((e) => e.path === path);
}

function warningsAt(doc: Doc, path: string): Finding[] {
  return check(doc).rawWarnings.filter((w) => w.path === path);
}

describe('a valid document', () => {
  it('the base document of these tests has no error and no warning', () => {
    const { errors, warnings } = check(base());
    assert.deepEqual(errors, []);
    assert.deepEqual(warnings, []);
  });

  it('the embedded defaults validate without error', () => {
    assert.deepEqual(check(embeddedDefaults()).errors, []);
  });

  it('the example fixture validates without error', () => {
    const parsed = parseSettingsText(readFileSync(join(FIXTURES, 'example.yaml'), 'utf8'));
    assert.ok(parsed.ok);
    assert.deepEqual(check(parsed.value).errors, []);
  });

  it('returns the settings with defaults filled in', () => {
    const doc = base();
    delete doc.limits;
    delete doc.relaying.scan_relayed;
    const v = validate(doc);
    assert.deepEqual(v.settings.limits, {
      max_message_size: 52428800, max_recipients: 100, max_received: 50, max_line_length: 2048, max_errors: 10,
      max_connections: 1000, max_connections_per_client: 100, ipv6_client_prefix: 64, max_auth_failures: 5, min_password_length: 8, auth_failure_delay: '1s',
      auth_failure_window: '15m', idle_timeout: '5m', tls_handshake_timeout: '10s', min_free_space: 104857600, shutdown_grace: '30s',
      bare_newline: 'normalize', bare_newline_networks: [], rate: [],
    });
    assert.equal(v.settings.limits.max_message_size, 52428800);
    assert.equal(v.settings.limits.max_recipients, 100);
    assert.equal(v.settings.relaying.scan_relayed, true);
    assert.equal(v.settings.users[0]?.enabled, true);
    assert.deepEqual(v.settings.listeners[0]?.trusted_proxies, []);
    assert.equal(v.networks.has('trusted'), true);
  });
});

describe('errors: unknown keys', () => {
  it('at the top level, with a suggestion', () => {
    const doc = base();
    doc.relayng = {};
    onlyError(doc, 'relayng', /unknown setting "relayng" \(did you mean "relaying"\?\)/);
  });

  it('nested, with the full path', () => {
    const doc = base();
    doc.relaying.allowed_host = ['office'];
    onlyError(doc, 'relaying.allowed_host', /unknown setting "allowed_host".*"allowed_hosts"/);
    const doc2 = base();
    doc2.relaying.authenticated_relay.enable = true;
    onlyError(doc2, 'relaying.authenticated_relay.enable', /unknown setting/);
  });

  it('inside a list element', () => {
    const doc = base();
    doc.networks[1].adress = '10.9.0.0/16';
    onlyError(doc, 'networks[1].adress', /unknown setting "adress"/);
    const doc2 = base();
    doc2.listeners[1].tls = true;
    onlyError(doc2, 'listeners[1].tls', /unknown setting/);
    const doc3 = base();
    doc3.domains[0].route.host = 'x';
    onlyError(doc3, 'domains[0].route.host', /unknown setting/);
  });

  it('without a suggestion when nothing is close', () => {
    const doc = base();
    doc.completely_unrelated = 1;
    const e = onlyError(doc, 'completely_unrelated', /unknown setting/);
    assert.doesNotMatch(e.message, /did you mean/);
  });

  it('an address field that the type does not use', () => {
    const doc = base();
    doc.networks[0].members = ['office'];
    onlyError(doc, 'networks[0].members', /not used by a network object of type host/);
    const doc2 = base();
    doc2.networks[3].address = '10.2.0.10';
    onlyError(doc2, 'networks[3].address', /not used by a network object of type range/);
  });
});

describe('errors: wrong types', () => {
  const cases: [string, (d: Doc) => void, string, RegExp][] = [
    ['a string port', (d) => (d.listeners[0].port = '2525'), 'listeners[0].port', /expected a whole number, got string "2525"/],
    ['a fractional port', (d) => (d.listeners[0].port = 25.5), 'listeners[0].port', /whole number/],
    ['a string for a boolean', (d) => (d.relaying.upstream_only = 'yes'), 'relaying.upstream_only', /expected true or false, got string "yes"/],
    ['a number for a boolean', (d) => (d.users[0].enabled = 1), 'users[0].enabled', /expected true or false/],
    ['a name for a list', (d) => (d.relaying.allowed_hosts = 'office'), 'relaying.allowed_hosts', /expected a list, got string/],
    ['a mapping for a list', (d) => (d.networks = { office: '10.1.0.0/16' }), 'networks', /expected a list, got a mapping/],
    ['a list for a mapping', (d) => (d.relaying = []), 'relaying', /expected a mapping, got a list/],
    ['a number in a list of names', (d) => (d.relaying.blacklist = ['spammers', 42]), 'relaying.blacklist[1]', /expected a string, got number 42/],
    ['a number for a string', (d) => (d.networks[1].address = 10.1), 'networks[1].address', /expected a string, got number 10.1/],
    ['a string where a list element should be a mapping', (d) => (d.listeners[1] = 'mx'), 'listeners[1]', /expected a mapping, got string/],
    ['null as a list element', (d) => (d.users[1] = null), 'users[1]', /expected a mapping, got null/],
    ['an unknown listener mode', (d) => (d.listeners[0].mode = 'relay'), 'listeners[0].mode', /must be one of mx, submission, smtps/],
    ['an unknown network type', (d) => (d.networks[5] = { name: 'spammers', type: 'subnet' }), 'networks[5].type', /must be one of host, network, range, group/],
    ['an unknown smarthost TLS policy', (d) => (d.delivery.smarthost = { host: 'smtp.example.net', tls: 'maybe' }), 'delivery.smarthost.tls', /must be one of required, opportunistic/],
    ['a limit below its minimum', (d) => (d.limits.max_recipients = 0), 'limits.max_recipients', /between 1 and 100000, got 0/],
    ['a limit above its maximum', (d) => (d.limits.max_message_size = 2 ** 31), 'limits.max_message_size', /between 1024 and/],
  ];
  for (const [what, edit, path, re] of cases) {
    it(what, () => {
      const doc = base();
      edit(doc);
      const { rawErrors } = check(doc);
      const here = rawErrors.filter((e) => e.path === path);
      assert.equal(here.length, 1, `errors: ${JSON.stringify(rawErrors)}`);
      assert.match(here[0]?.message ?? '', re);
    });
  }

  it('a document that is not a mapping', () => {
    for (const raw of [[1, 2], 'hostname: x', 42]) {
      const { rawErrors } = check(raw);
      assert.equal(rawErrors.length, 1, JSON.stringify(raw));
      assert.equal(rawErrors[0]?.path, '(document)');
      assert.match(rawErrors[0]?.message ?? '', /expected a mapping/);
    }
  });
});

describe('errors: missing required fields', () => {
  const cases: [string, (d: Doc) => void, string, RegExp][] = [
    ['listener name', (d) => delete d.listeners[0].name, 'listeners[0].name', /is required/],
    ['listener address', (d) => delete d.listeners[0].address, 'listeners[0].address', /is required/],
    ['listener port', (d) => delete d.listeners[0].port, 'listeners[0].port', /is required/],
    ['listener mode', (d) => delete d.listeners[0].mode, 'listeners[0].mode', /is required \(one of mx, submission, smtps\)/],
    ['network name', (d) => delete d.networks[5].name, 'networks[5].name', /is required/],
    ['network type', (d) => (d.networks[5] = { name: 'spammers', address: '198.51.100.7' }), 'networks[5].type', /is required/],
    ['host address', (d) => delete d.networks[2].address, 'networks[2].address', /is required/],
    ['network address', (d) => delete d.networks[5].address, 'networks[5].address', /is required/],
    ['range end', (d) => delete d.networks[3].to, 'networks[3].to', /is required/],
    ['range start', (d) => delete d.networks[3].from, 'networks[3].from', /is required/],
    ['group name', (d) => (d.groups[0] = {}), 'groups[0].name', /is required/],
    ['user name', (d) => delete d.users[1].name, 'users[1].name', /is required/],
    ['empty user name', (d) => (d.users[1].name = ' '), 'users[1].name', /must not be empty/],
    ['domain name', (d) => delete d.domains[0].name, 'domains[0].name', /is required/],
    ['domain route', (d) => delete d.domains[0].route, 'domains[0].route.hosts', /at least one host/],
    ['smarthost host', (d) => (d.delivery.smarthost = { port: 587 }), 'delivery.smarthost.host', /is required/],
    ['TLS key', (d) => (d.tls = { cert: '/etc/cert.pem' }), 'tls.key', /is required/],
    ['TLS certificate', (d) => (d.tls = { key: '/etc/key.pem' }), 'tls.cert', /is required/],
  ];
  for (const [what, edit, path, re] of cases) {
    it(what, () => {
      const doc = base();
      edit(doc);
      const here = errorsAt(doc, path);
      assert.equal(here.length, 1, `no single error at ${path}: ${JSON.stringify(check(doc).rawErrors)}`);
      assert.match(here[0]?.message ?? '', re);
    });
  }

  it('an empty list of members is allowed and matches nothing', () => {
    const doc = base();
    doc.networks.push({ name: 'empty', type: 'group', members: [] });
    assert.deepEqual(check(doc).errors, []);
  });
});

describe('errors: duplicate names, per kind', () => {
  it('two network objects with the same name', () => {
    const doc = base();
    doc.networks.push({ name: 'office', type: 'host', address: '10.9.9.9' });
    onlyError(doc, 'networks[6].name', /network object "office" is already defined at networks\[1\]/);
  });

  it('network names differing only in case', () => {
    const doc = base();
    doc.networks.push({ name: 'Office', type: 'host', address: '10.9.9.9' });
    onlyError(doc, 'networks[6].name', /already defined at networks\[1\]/);
  });

  it('two user groups with the same name', () => {
    const doc = base();
    doc.groups.push({ name: 'staff' });
    onlyError(doc, 'groups[1].name', /user group "staff" is already defined at groups\[0\]/);
  });

  it('two users with the same name', () => {
    const doc = base();
    doc.users.push({ name: 'alice', password: 'other' });
    onlyError(doc, 'users[2].name', /user "alice" is already defined at users\[0\]/);
  });

  it('two listeners with the same name', () => {
    const doc = base();
    doc.listeners[1].name = 'mx';
    onlyError(doc, 'listeners[1].name', /listener "mx" is already defined at listeners\[0\]/);
  });

  it('two domains with the same name, ignoring case', () => {
    const doc = base();
    doc.domains.push({ name: 'EXAMPLE.com', route: { hosts: ['10.1.2.4'] } });
    onlyError(doc, 'domains[1].name', /domain "example.com" is already defined at domains\[0\]/);
  });

  it('two domains with the same name, ignoring a trailing dot', () => {
    const doc = base();
    doc.domains.push({ name: 'example.com.', route: { hosts: ['10.1.2.4'] } });
    const here = errorsAt(doc, 'domains[1].name');
    assert.ok(here.some((e) => /already defined at domains\[0\]/.test(e.message)), JSON.stringify(check(doc).rawErrors));
  });

  it('two domains with the same name, once in Unicode and once in A-labels', () => {
    const doc = base();
    doc.domains.push({ name: 'b\u00fccher.example', route: { hosts: ['10.1.2.4'] } });
    doc.domains.push({ name: 'xn--bcher-kva.example', route: { hosts: ['10.1.2.4'] } });
    onlyError(doc, 'domains[2].name', /already defined at domains\[1\]/);
  });

  it('the same name in different kinds is fine', () => {
    const doc = base();
    doc.networks.push({ name: 'staff', type: 'host', address: '10.9.9.9' });
    doc.users.push({ name: 'staff', password: 'pw', groups: ['staff'] });
    doc.listeners[1].name = 'staff';
    doc.groups.push({ name: 'office' });
    assert.deepEqual(check(doc).errors, []);
  });
});

describe('errors: unknown references', () => {
  it('the example of the issue, word for word', () => {
    const doc = base();
    doc.relaying.allowed_hosts = ['localhost', 'ofice'];
    const { errors } = check(doc);
    assert.deepEqual(errors, ['relaying.allowed_hosts[1]: unknown network object "ofice"']);
  });

  it('in upstream_hosts and blacklist', () => {
    const doc = base();
    doc.relaying.upstream_hosts = ['isp-mx', 'isp-mx2'];
    doc.relaying.blacklist = ['spamers', 'spammers'];
    const { errors } = check(doc);
    assert.deepEqual(errors.sort(), ['relaying.blacklist[0]: unknown network object "spamers"', 'relaying.upstream_hosts[1]: unknown network object "isp-mx2"']);
  });

  it('in a listener\'s trusted proxies', () => {
    const doc = base();
    doc.listeners[1].trusted_proxies = ['haproxy'];
    onlyError(doc, 'listeners[1].trusted_proxies[0]', /unknown network object "haproxy"/);
  });

  it('in a group\'s members', () => {
    const doc = base();
    doc.networks[4].members = ['office', 'isp_mx'];
    onlyError(doc, 'networks[4].members[1]', /unknown network object "isp_mx"/);
  });

  it('a case slip gets a hint, and is still an error', () => {
    const doc = base();
    doc.relaying.allowed_hosts = ['Office', 'any'];
    const { errors } = check(doc);
    assert.deepEqual(errors, [
      'relaying.allowed_hosts[0]: unknown network object "Office" (did you mean "office"?)',
      'relaying.allowed_hosts[1]: unknown network object "any" (did you mean "Any"?)',
    ]);
  });

  it('Any is known without being defined', () => {
    const doc = base();
    doc.relaying.blacklist = ['Any'];
    assert.deepEqual(check(doc).errors, []);
  });

  it('an unknown user group of a user', () => {
    const doc = base();
    doc.users[0].groups = ['staff', 'admins'];
    onlyError(doc, 'users[0].groups[1]', /unknown user group "admins"/);
  });

  it('an unknown user or group in authenticated relay', () => {
    const doc = base();
    doc.relaying.authenticated_relay.users = ['alice', 'mallory'];
    doc.relaying.authenticated_relay.groups = ['staf'];
    const { errors } = check(doc);
    assert.deepEqual(errors.sort(), ['relaying.authenticated_relay.groups[0]: unknown user group "staf"', 'relaying.authenticated_relay.users[1]: unknown user "mallory"']);
  });

  it('a network name is not a user group, and a user group is not a network', () => {
    const doc = base();
    doc.users[0].groups = ['office'];
    doc.relaying.allowed_hosts = ['staff'];
    const { errors } = check(doc);
    assert.deepEqual(errors.sort(), ['relaying.allowed_hosts[0]: unknown network object "staff"', 'users[0].groups[0]: unknown user group "office"']);
  });
});

describe('errors: group cycles', () => {
  it('a group that contains itself', () => {
    const doc = base();
    doc.networks[4].members = ['office', 'trusted'];
    onlyError(doc, 'networks[4].members', /cycle: trusted → trusted/);
  });

  it('two groups that contain each other', () => {
    const doc = base();
    doc.networks.push({ name: 'g1', type: 'group', members: ['g2'] }, { name: 'g2', type: 'group', members: ['g1', 'office'] });
    onlyError(doc, 'networks[6].members', /cycle: g1 → g2 → g1/);
  });

  it('a longer cycle through a group in use', () => {
    const doc = base();
    doc.networks.push(
      { name: 'a', type: 'group', members: ['b'] },
      { name: 'b', type: 'group', members: ['c'] },
      { name: 'c', type: 'group', members: ['trusted'] },
    );
    doc.networks[4].members = ['office', 'a'];
    const e = onlyError(doc, 'networks[4].members', /cycle/);
    for (const n of ['trusted', 'a', 'b', 'c']) assert.ok(e.message.includes(n), e.message);
  });

  it('a cycle in a group used for relaying does not hang validation', () => {
    const doc = base();
    doc.networks.push({ name: 'loop', type: 'group', members: ['loop', 'Any'] });
    doc.relaying.allowed_hosts = ['loop'];
    const { rawErrors } = check(doc);
    assert.ok(rawErrors.some((e) => e.path === 'networks[6].members' && /cycle/.test(e.message)));
  });
});

describe('errors: addresses', () => {
  for (const legacy of ['010.1.2.3', '10.1', '0x0a.0.0.1', '1.2.3', '10.1.2.03', '167838211']) {
    it(`a host written ${JSON.stringify(legacy)}`, () => {
      const doc = base();
      doc.networks[2].address = legacy;
      const e = onlyError(doc, 'networks[2].address');
      assert.ok(e.message.includes(`"${legacy}"`), e.message);
    });
  }

  for (const legacy of ['010.1.0.0/16', '10.1/16', '0x0a.1.0.0/16']) {
    it(`a network written ${JSON.stringify(legacy)}`, () => {
      const doc = base();
      doc.networks[1].address = legacy;
      onlyError(doc, 'networks[1].address');
    });
  }

  it('a range end written in a legacy spelling', () => {
    const doc = base();
    doc.networks[3].from = '10.2.0.010';
    doc.networks[3].to = '10.2.0.20';
    onlyError(doc, 'networks[3].from');
  });

  it('a host with a zone id', () => {
    const doc = base();
    doc.networks[2].address = 'fe80::1%eth0';
    onlyError(doc, 'networks[2].address');
  });

  it('a host given as a network', () => {
    const doc = base();
    doc.networks[2].address = '192.0.2.0/24';
    onlyError(doc, 'networks[2].address', /use type network/);
  });

  it('host bits set in a CIDR, with the fix suggested', () => {
    const doc = base();
    doc.networks[1].address = '10.1.2.0/16';
    onlyError(doc, 'networks[1].address', /host bits are set; did you mean 10\.1\.0\.0\/16\?/);
    const doc6 = base();
    doc6.networks[1].address = '2001:db8::1/64';
    onlyError(doc6, 'networks[1].address', /host bits.*2001:db8::\/64/);
  });

  it('a prefix too long or missing', () => {
    for (const a of ['10.1.0.0/33', '10.1.0.0', '2001:db8::/129']) {
      const doc = base();
      doc.networks[1].address = a;
      onlyError(doc, 'networks[1].address');
    }
  });

  it('a range whose start comes after its end', () => {
    const doc = base();
    doc.networks[3].from = '10.2.0.20';
    doc.networks[3].to = '10.2.0.10';
    onlyError(doc, 'networks[3]', /"10\.2\.0\.20" comes after "10\.2\.0\.10"/);
  });

  it('a range of one address is fine', () => {
    const doc = base();
    doc.networks[3].to = '10.2.0.10';
    assert.deepEqual(check(doc).errors, []);
  });

  it('a range mixing IPv4 and IPv6', () => {
    const doc = base();
    doc.networks[3].to = '2001:db8::1';
    onlyError(doc, 'networks[3]', /same address family/);
  });

  it('a range from an IPv4 address to the mapped form of a higher one is one family', () => {
    const doc = base();
    doc.networks[3].to = '::ffff:10.2.0.20';
    assert.deepEqual(check(doc).errors, []);
  });
});

describe('errors: listeners', () => {
  for (const port of [-1, 65536, 100000]) {
    it(`port ${port}`, () => {
      const doc = base();
      doc.listeners[0].port = port;
      onlyError(doc, 'listeners[0].port', /between 0 and 65535/);
    });
  }

  it('port 0 (the system picks a free port) is fine, also for several listeners on one address', () => {
    const doc = base();
    doc.listeners[0].port = 0;
    doc.listeners[1].port = 0;
    doc.listeners[1].address = doc.listeners[0].address;
    assert.deepEqual(check(doc).errors, []);
  });

  for (const address of ['localhost', '010.0.0.1', '127.1', '::1%lo', '127.0.0.1:25', '']) {
    it(`address ${JSON.stringify(address)}`, () => {
      const doc = base();
      doc.listeners[0].address = address;
      assert.equal(errorsAt(doc, 'listeners[0].address').length, 1, JSON.stringify(check(doc).rawErrors));
      assert.equal(check(doc).errors.length, 1);
    });
  }

  it('IPv6 and wildcard addresses are fine', () => {
    const doc = base();
    doc.listeners[0].address = '::1';
    doc.listeners[1].address = '0.0.0.0';
    assert.deepEqual(check(doc).errors, []);
  });

  it('the same address and port twice', () => {
    const doc = base();
    doc.listeners[1].port = 2525;
    onlyError(doc, 'listeners[1].port', /listeners\[0\] already uses 127\.0\.0\.1 port 2525/);
  });

  it('the same address and port, once written as mapped IPv6', () => {
    const doc = base();
    doc.listeners[1].address = '::ffff:127.0.0.1';
    doc.listeners[1].port = 2525;
    onlyError(doc, 'listeners[1].port', /already uses/);
  });

  it('a wildcard address and a specific address on the same port cannot both be bound', () => {
    // Linux (and Node's dual-stack "::") refuse the second bind with
    // EADDRINUSE, so such a document validates but the relay cannot start.
    for (const [a, b] of [['0.0.0.0', '127.0.0.1'], ['127.0.0.1', '0.0.0.0'], ['::', '0.0.0.0'], ['::', '127.0.0.1']]) {
      const doc = base();
      doc.listeners[0].address = a;
      doc.listeners[1].address = b;
      doc.listeners[1].port = 2525;
      const here = errorsAt(doc, 'listeners[1].port');
      assert.equal(here.length, 1, `${a} and ${b} on port 2525: ${JSON.stringify(check(doc).rawErrors)}`);
    }
  });

  it('the same port on two addresses, or two ports on one address, is fine', () => {
    const doc = base();
    doc.listeners[1].address = '127.0.0.2';
    doc.listeners[1].port = 2525;
    assert.deepEqual(check(doc).errors, []);
  });

  it('trusting PROXY headers from everyone is an error, acknowledged or not', () => {
    for (const ack of [false, true]) {
      const doc = base();
      doc.listeners[0].trusted_proxies = ['Any'];
      doc.relaying.open_relay_acknowledged = ack;
      const here = errorsAt(doc, 'listeners[0].trusted_proxies');
      assert.equal(here.length, 1);
      assert.match(here[0]?.message ?? '', /PROXY/);
    }
  });

  it('trusting PROXY headers from one proxy is fine', () => {
    const doc = base();
    doc.networks.push({ name: 'haproxy', type: 'host', address: '10.1.0.5' });
    doc.listeners[0].trusted_proxies = ['haproxy'];
    assert.deepEqual(check(doc).errors, []);
  });
});

describe('errors: domains, routes, host name, smarthost', () => {
  for (const name of ['exa mple.com', '-bad.example.com', 'bad-.example.com', 'a..example.com', 'ex!ample.com', `${'a'.repeat(64)}.example.com`, '10.1.2.3']) {
    it(`domain name ${JSON.stringify(name)}`, () => {
      const doc = base();
      doc.domains[0].name = name;
      onlyError(doc, 'domains[0].name', /not a valid domain name/);
    });
  }

  it('a good domain name with digits and hyphens', () => {
    const doc = base();
    doc.domains[0].name = 'mail-1.example-2.co.uk';
    assert.deepEqual(check(doc).errors, []);
  });

  it('a domain with no route host', () => {
    const doc = base();
    doc.domains[0].route.hosts = [];
    onlyError(doc, 'domains[0].route.hosts', /at least one host/);
  });

  for (const host of ['mail.example.com:0', 'mail.example.com:99999', 'mail.example.com:25x', 'mail.example.com:', '2001:db8::1', '[2001:db8::1', '[2001:db8::1]25', '[not-v6]:25', '010.1.2.3', '10.1:25', 'bad host', 'mail_server!']) {
    it(`route host ${JSON.stringify(host)}`, () => {
      const doc = base();
      doc.domains[0].route.hosts = ['10.1.2.3', host];
      onlyError(doc, 'domains[0].route.hosts[1]');
    });
  }

  it('good route hosts', () => {
    const doc = base();
    doc.domains[0].route.hosts = ['mail.example.com', 'mail.example.com:2525', '10.1.2.3', '[2001:db8::1]', '[2001:db8::1]:25'];
    assert.deepEqual(check(doc).errors, []);
  });

  for (const hostname of ['bad host', 'mx..example.com', '-mx.example.com', '']) {
    it(`host name ${JSON.stringify(hostname)}`, () => {
      const doc = base();
      doc.hostname = hostname;
      onlyError(doc, 'hostname', /not a valid host name/);
    });
  }

  it('a smarthost with the port in its host name', () => {
    const doc = base();
    doc.delivery.smarthost = { host: 'smtp.example.net:587' };
    onlyError(doc, 'delivery.smarthost.host', /delivery\.smarthost\.port/);
  });

  it('a smarthost written as a bracketed IPv6 address with a port', () => {
    // The port belongs in delivery.smarthost.port, whatever the host spelling;
    // otherwise the two disagree silently.
    const doc = base();
    doc.delivery.smarthost = { host: '[2001:db8::1]:2525', port: 587 };
    onlyError(doc, 'delivery.smarthost.host', /delivery\.smarthost\.port/);
  });

  it('good smarthosts', () => {
    for (const host of ['smtp.example.net', '192.0.2.25', '[2001:db8::25]']) {
      const doc = base();
      doc.delivery.smarthost = { host, port: 587, username: 'u', password: 'p', tls: 'required' };
      assert.deepEqual(check(doc).errors, [], host);
    }
  });

  it('a smarthost with an unbracketed IPv6 address or a bad name', () => {
    for (const host of ['2001:db8::25', 'smtp example', '010.0.0.1']) {
      const doc = base();
      doc.delivery.smarthost = { host };
      onlyError(doc, 'delivery.smarthost.host');
    }
  });

  it('a smarthost password without a username', () => {
    const doc = base();
    doc.delivery.smarthost = { host: 'smtp.example.net', password: 'p' };
    onlyError(doc, 'delivery.smarthost.password', /needs a username/);
  });
});

describe('errors: users', () => {
  for (const hash of ['s3cret', 'scrypt$16384$8$1$c2FsdA==', 'scrypt$1000$8$1$c2FsdA==$aGFzaA==', '$2b$10$abcdefghijklmnopqrstuu', '']) {
    it(`password_hash ${JSON.stringify(hash)}`, () => {
      const doc = base();
      doc.users[1].password_hash = hash;
      onlyError(doc, 'users[1].password_hash', /not a password hash/);
    });
  }

  it('both password and password_hash', () => {
    const doc = base();
    doc.users[1].password = 'hunter2';
    onlyError(doc, 'users[1]', /either password or password_hash/);
  });

  it('an empty password', () => {
    const doc = base();
    doc.users[0].password = '';
    onlyError(doc, 'users[0].password', /must not be empty/);
  });

  for (const name of ['al ice', 'al:ice', 'al\tice', 'al\u0000ice']) {
    it(`user name ${JSON.stringify(name)}`, () => {
      const doc = base();
      doc.users[1].name = name;
      onlyError(doc, 'users[1].name', /spaces, colons or control characters/);
    });
  }

  it('a user name with an @ and a dot is fine', () => {
    const doc = base();
    doc.users[1].name = 'bob@example.com';
    assert.deepEqual(check(doc).errors, []);
  });
});

describe('every error at once', () => {
  it('reports all problems of a document with many, each at its path', () => {
    const doc: Doc = {
      hostname: 'bad host!',
      colour: 'blue',
      listeners: [
        { name: 'mx', address: '127.0.0.1', port: 25, mode: 'mx' },
        { name: 'mx', address: '127.0.0.1', port: 25, mode: 'mx' },
        { name: 'x', address: '127.0.0.1', port: 70000, mode: 'mx' },
      ],
      networks: [
        { name: 'h1', type: 'host', address: '010.1.2.3' },
        { name: 'n1', type: 'network', address: '10.0.0.1/8' },
        { name: 'r1', type: 'range', from: '10.0.0.9', to: '10.0.0.1' },
        { name: 'g1', type: 'group', members: ['g1'] },
        { name: 'h1', type: 'host', address: '10.9.9.9' },
      ],
      groups: [{ name: 'staff' }, { name: 'staff' }],
      users: [{ name: 'alice', password: 'x', password_hash: 'y', groups: ['nobody'] }],
      domains: [{ name: 'exa mple.com', route: { hosts: [] } }],
      relaying: {
        allowed_hosts: ['ofice'],
        blacklist: ['nope'],
        upstream_only: 'yes',
        authenticated_relay: { enabled: true, users: ['bob'] },
      },
      delivery: { smarthost: { host: 'smtp.example.net:587', password: 'p' } },
      limits: { max_recipients: 0 },
    };
    const { rawErrors } = check(doc);
    const expected = [
      'colour',
      'delivery.smarthost.host',
      'delivery.smarthost.password',
      'domains[0].name',
      'domains[0].route.hosts',
      'groups[1].name',
      'hostname',
      'limits.max_recipients',
      'listeners[1].name',
      'listeners[1].port',
      'listeners[2].port',
      'networks[0].address',
      'networks[1].address',
      'networks[2]',
      'networks[3].members',
      'networks[4].name',
      'relaying.allowed_hosts[0]',
      'relaying.authenticated_relay.users[0]',
      'relaying.blacklist[0]',
      'relaying.upstream_only',
      'users[0]',
      'users[0].groups[0]',
      'users[0].password_hash',
    ];
    assert.deepEqual(rawErrors.map((e) => e.path).sort(), [...expected].sort());
    assert.equal(rawErrors.length, 23);
    for (const e of rawErrors) assert.ok(e.message.length > 5, `no plain reason at ${e.path}`);
  });

  it('errors and warnings are kept apart', () => {
    const doc = base();
    doc.relaying.allowed_hosts = ['ofice'];
    doc.users.push({ name: 'carol' });
    const { errors, warnings } = check(doc);
    assert.deepEqual(errors, ['relaying.allowed_hosts[0]: unknown network object "ofice"']);
    assert.ok(warnings.some((w) => w.startsWith('users[2]:')), JSON.stringify(warnings));
    assert.ok(!warnings.some((w) => w.includes('ofice')));
  });
});

describe('warnings', () => {
  it('a blacklisted network that contains an allowed host, naming both', () => {
    const doc = base();
    doc.networks.push({ name: 'bad-net', type: 'network', address: '10.0.0.0/8' });
    doc.relaying.blacklist = ['bad-net'];
    const { errors, rawWarnings } = check(doc);
    assert.deepEqual(errors, []);
    assert.equal(rawWarnings.length, 1, JSON.stringify(rawWarnings));
    assert.equal(rawWarnings[0]?.path, 'relaying.blacklist[0]');
    assert.match(rawWarnings[0]?.message ?? '', /"bad-net" overlaps "office" of relaying\.allowed_hosts; addresses in "office" stay allowed/);
  });

  it('a blacklisted network that contains an upstream host', () => {
    const doc = base();
    doc.networks.push({ name: 'doc-net', type: 'network', address: '192.0.2.0/24' });
    doc.relaying.blacklist = ['spammers', 'doc-net'];
    const here = warningsAt(doc, 'relaying.blacklist[1]');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /"doc-net" overlaps "isp-mx" of relaying\.upstream_hosts/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('every overlap is listed, including through groups and mapped spellings', () => {
    const doc = base();
    doc.networks.push({ name: 'everything-bad', type: 'group', members: ['Any'] });
    doc.networks.push({ name: 'mapped-office', type: 'network', address: '::ffff:10.1.0.0/112' });
    doc.relaying.allowed_hosts = ['localhost', 'office', 'trusted'];
    doc.relaying.blacklist = ['everything-bad', 'mapped-office'];
    const msgs = warningsAt(doc, 'relaying.blacklist[0]').map((w) => w.message);
    // localhost, office and trusted of allowed_hosts; isp-mx of upstream_hosts.
    assert.equal(msgs.length, 4, JSON.stringify(msgs));
    for (const n of ['localhost', 'office', 'trusted', 'isp-mx']) assert.ok(msgs.some((m) => m.includes(`overlaps "${n}"`)), n);
    const mapped = warningsAt(doc, 'relaying.blacklist[1]').map((w) => w.message);
    assert.equal(mapped.length, 2, JSON.stringify(mapped)); // office and trusted
    assert.deepEqual(check(doc).errors, []);
  });

  it('a blacklist that does not touch the allowed or upstream hosts draws no warning', () => {
    assert.deepEqual(warningsAt(base(), 'relaying.blacklist[0]'), []);
  });

  it('authenticated relay enabled with nobody named', () => {
    const doc = base();
    doc.relaying.authenticated_relay = { enabled: true };
    const here = warningsAt(doc, 'relaying.authenticated_relay');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /nobody can relay/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('authenticated relay disabled with nobody named is quiet', () => {
    const doc = base();
    doc.relaying.authenticated_relay = { enabled: false };
    assert.deepEqual(check(doc).warnings, []);
  });

  it('upstream_only with no upstream and no relay hosts', () => {
    const doc = base();
    doc.relaying.upstream_only = true;
    doc.relaying.upstream_hosts = [];
    doc.relaying.allowed_hosts = [];
    const here = warningsAt(doc, 'relaying.upstream_only');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /every connection will be refused/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('upstream_only with upstream hosts is quiet', () => {
    const doc = base();
    doc.relaying.upstream_only = true;
    doc.relaying.allowed_hosts = [];
    assert.deepEqual(warningsAt(doc, 'relaying.upstream_only'), []);
  });

  it('no listeners', () => {
    const doc = base();
    doc.listeners = [];
    const here = warningsAt(doc, 'listeners');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /no listeners/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('a user without a password', () => {
    const doc = base();
    doc.users.push({ name: 'carol', groups: ['staff'] });
    const here = warningsAt(doc, 'users[2]');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /"carol" has no password/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('a disabled user named for authenticated relay', () => {
    const doc = base();
    doc.users[0].enabled = false;
    const here = warningsAt(doc, 'relaying.authenticated_relay.users[0]');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /disabled/);
  });

  it('an object listed twice', () => {
    const doc = base();
    doc.relaying.allowed_hosts = ['localhost', 'office', 'localhost'];
    const here = warningsAt(doc, 'relaying.allowed_hosts[2]');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /listed twice/);
  });

  it('no host name', () => {
    const doc = base();
    delete doc.hostname;
    assert.equal(warningsAt(doc, 'hostname').length, 1);
  });

  it('open_relay_acknowledged set though the relay is not open', () => {
    const doc = base();
    doc.relaying.open_relay_acknowledged = true;
    const here = warningsAt(doc, 'relaying.open_relay_acknowledged');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /not open/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('a wide public IPv4 relay network', () => {
    const doc = base();
    doc.networks.push({ name: 'wide', type: 'network', address: '11.0.0.0/8' });
    doc.relaying.allowed_hosts = ['localhost', 'wide'];
    const here = warningsAt(doc, 'relaying.allowed_hosts[1]');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /"wide" gives relay rights to 16777216 public IPv4 addresses/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('a wide public IPv6 relay network', () => {
    const doc = base();
    doc.networks.push({ name: 'wide6', type: 'network', address: '2a00:1450::/32' });
    doc.relaying.allowed_hosts = ['localhost', 'wide6'];
    const here = warningsAt(doc, 'relaying.allowed_hosts[1]');
    assert.equal(here.length, 1, JSON.stringify(check(doc).rawWarnings));
    assert.match(here[0]?.message ?? '', /IPv6/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('a public /16 or a private /8 is not wide', () => {
    for (const address of ['11.1.0.0/16', '10.0.0.0/8', '2a00:1450:4001::/48', 'fd00::/8']) {
      const doc = base();
      doc.networks.push({ name: 'net', type: 'network', address });
      doc.relaying.allowed_hosts = ['net'];
      assert.deepEqual(check(doc).warnings, [], address);
    }
  });

  it('upstream hosts that cover every IPv4 address', () => {
    const doc = base();
    doc.relaying.upstream_hosts = ['Any'];
    doc.relaying.blacklist = [];
    const here = warningsAt(doc, 'relaying.upstream_hosts');
    assert.equal(here.length, 1);
    assert.match(here[0]?.message ?? '', /every IPv4 address/);
    assert.deepEqual(check(doc).errors, []);
  });

  it('warnings do not block: a document with every kind of warning has no error', () => {
    const doc: Doc = {
      hostname: 'mx.example.com',
      listeners: [],
      networks: [
        { name: 'bad-net', type: 'network', address: '10.0.0.0/8' },
        { name: 'office', type: 'network', address: '10.1.0.0/16' },
        { name: 'wide', type: 'network', address: '11.0.0.0/8' },
        { name: 'isp-mx', type: 'host', address: '10.0.5.5' },
      ],
      users: [{ name: 'carol' }],
      relaying: {
        upstream_hosts: ['isp-mx'],
        allowed_hosts: ['office', 'wide'],
        blacklist: ['bad-net'],
        authenticated_relay: { enabled: true },
        open_relay_acknowledged: true,
      },
    };
    const { errors, rawWarnings } = check(doc);
    assert.deepEqual(errors, []);
    assert.deepEqual(rawWarnings.map((w) => w.path).sort(), [
      'listeners',
      'relaying.allowed_hosts[1]',
      'relaying.authenticated_relay',
      'relaying.blacklist[0]',
      'relaying.blacklist[0]',
      'relaying.open_relay_acknowledged',
      'users[0]',
    ]);
  });
});

describe('the open-relay guard (rule 8)', () => {
  type Spelling = { what: string; networks: Doc[]; allowed: string[] };
  const open: Spelling[] = [
    { what: 'Any', networks: [], allowed: ['Any'] },
    { what: '0.0.0.0/0', networks: [{ name: 'all4', type: 'network', address: '0.0.0.0/0' }], allowed: ['all4'] },
    { what: '::/0', networks: [{ name: 'all6', type: 'network', address: '::/0' }], allowed: ['all6'] },
    { what: 'range 0.0.0.0-255.255.255.255', networks: [{ name: 'r', type: 'range', from: '0.0.0.0', to: '255.255.255.255' }], allowed: ['r'] },
    { what: '::ffff:0.0.0.0/96', networks: [{ name: 'mapped', type: 'network', address: '::ffff:0.0.0.0/96' }], allowed: ['mapped'] },
    { what: 'a group containing Any', networks: [{ name: 'everyone', type: 'group', members: ['office', 'Any'] }], allowed: ['everyone'] },
    {
      what: 'a group of a group containing 0.0.0.0/0',
      networks: [
        { name: 'all4', type: 'network', address: '0.0.0.0/0' },
        { name: 'inner', type: 'group', members: ['all4'] },
        { name: 'outer', type: 'group', members: ['inner'] },
      ],
      allowed: ['outer'],
    },
    {
      what: 'two halves 0.0.0.0/1 + 128.0.0.0/1',
      networks: [
        { name: 'low', type: 'network', address: '0.0.0.0/1' },
        { name: 'high', type: 'network', address: '128.0.0.0/1' },
      ],
      allowed: ['low', 'high'],
    },
    {
      what: 'two halves inside one group',
      networks: [
        { name: 'low', type: 'network', address: '0.0.0.0/1' },
        { name: 'high', type: 'network', address: '128.0.0.0/1' },
        { name: 'both', type: 'group', members: ['low', 'high'] },
      ],
      allowed: ['both'],
    },
    { what: 'the public IPv4 space in one range 1.0.0.0-223.255.255.255', networks: [{ name: 'pub', type: 'range', from: '1.0.0.0', to: '223.255.255.255' }], allowed: ['pub'] },
    { what: '2000::/3', networks: [{ name: 'global6', type: 'network', address: '2000::/3' }], allowed: ['global6'] },
    {
      what: 'two IPv6 halves 2000::/4 + 3000::/4',
      networks: [
        { name: 'g6a', type: 'network', address: '2000::/4' },
        { name: 'g6b', type: 'network', address: '3000::/4' },
      ],
      allowed: ['g6a', 'g6b'],
    },
    { what: 'an IPv6 range over everything', networks: [{ name: 'r6', type: 'range', from: '::', to: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' }], allowed: ['r6'] },
  ];

  function relayDoc(s: Spelling, ack: boolean): Doc {
    const doc = base();
    doc.networks.push(...structuredClone(s.networks));
    doc.relaying.allowed_hosts = ['localhost', ...s.allowed];
    doc.relaying.open_relay_acknowledged = ack;
    return doc;
  }

  for (const s of open) {
    it(`${s.what}: refused without the acknowledgement, saying it would make an open relay`, () => {
      const { rawErrors } = check(relayDoc(s, false));
      assert.equal(rawErrors.length, 1, JSON.stringify(rawErrors));
      const e = rawErrors[0] as Finding;
      assert.equal(e.path, 'relaying.allowed_hosts');
      assert.match(e.message, /open relay/);
      assert.match(e.message, /open_relay_acknowledged/);
    });

    it(`${s.what}: accepted with open_relay_acknowledged: true, with a loud warning`, () => {
      const { errors, rawWarnings } = check(relayDoc(s, true));
      assert.deepEqual(errors, []);
      const loud = rawWarnings.filter((w) => w.message.includes('OPEN RELAY'));
      assert.equal(loud.length, 1, JSON.stringify(rawWarnings));
      assert.equal(loud[0]?.path, 'relaying.allowed_hosts');
      assert.deepEqual(warningsAt(relayDoc(s, true), 'relaying.open_relay_acknowledged'), []);
    });
  }

  it('the refusal names the entry that opens the relay', () => {
    const { rawErrors } = check(relayDoc(open[5] as Spelling, false));
    assert.match(rawErrors[0]?.message ?? '', /relaying\.allowed_hosts\[1\]: "everyone"/);
  });

  const closed: Spelling[] = [
    { what: 'a private /8 (10.0.0.0/8)', networks: [{ name: 'ten', type: 'network', address: '10.0.0.0/8' }], allowed: ['ten'] },
    {
      what: 'all private IPv4 networks together',
      networks: [
        { name: 'p1', type: 'network', address: '10.0.0.0/8' },
        { name: 'p2', type: 'network', address: '172.16.0.0/12' },
        { name: 'p3', type: 'network', address: '192.168.0.0/16' },
      ],
      allowed: ['p1', 'p2', 'p3'],
    },
    { what: 'unique-local IPv6 fc00::/7', networks: [{ name: 'ula', type: 'network', address: 'fc00::/7' }], allowed: ['ula'] },
    { what: 'one public /16', networks: [{ name: 'pub16', type: 'network', address: '11.1.0.0/16' }], allowed: ['pub16'] },
    { what: 'one IPv6 /48', networks: [{ name: 'site', type: 'network', address: '2a00:1450:4001::/48' }], allowed: ['site'] },
  ];

  for (const s of closed) {
    it(`${s.what} is not an open relay`, () => {
      const { errors, warnings } = check(relayDoc(s, false));
      assert.deepEqual(errors, []);
      assert.ok(!warnings.some((w) => /open relay/i.test(w)), JSON.stringify(warnings));
    });

    it(`${s.what}: acknowledging it only draws the "not open" warning`, () => {
      const { errors, rawWarnings } = check(relayDoc(s, true));
      assert.deepEqual(errors, []);
      assert.ok(!rawWarnings.some((w) => w.message.includes('OPEN RELAY')));
      assert.equal(rawWarnings.filter((w) => w.path === 'relaying.open_relay_acknowledged').length, 1);
    });
  }

  it('Any in the blacklist or the upstream hosts does not make an open relay', () => {
    const doc = base();
    doc.relaying.blacklist = ['Any'];
    doc.relaying.upstream_hosts = ['Any'];
    const { errors, warnings } = check(doc);
    assert.deepEqual(errors, []);
    assert.ok(!warnings.some((w) => w.includes('OPEN RELAY')));
  });

  it('an unknown entry in allowed_hosts is an error, not an open relay', () => {
    const doc = base();
    doc.relaying.allowed_hosts = ['Everyone'];
    const { errors } = check(doc);
    assert.deepEqual(errors, ['relaying.allowed_hosts[0]: unknown network object "Everyone"']);
  });
});

describe('settings as text', () => {
  it('accepts JSON', () => {
    const doc = base();
    const parsed = parseSettingsText(JSON.stringify(doc, null, 2));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, doc);
    assert.deepEqual(check(parsed.value).errors, []);
  });

  it('accepts JSON on one line', () => {
    const doc = base();
    const parsed = parseSettingsText(JSON.stringify(doc));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, doc);
    assert.equal((parsed.value as Doc).relaying.allowed_hosts[1], 'office');
  });

  it('reads YAML to the same document as the equivalent JSON', () => {
    const yaml = [
      'hostname: mx.example.com',
      'networks:',
      '  - { name: office, type: network, address: 10.1.0.0/16 }',
      'relaying:',
      '  allowed_hosts: [office]',
      '  upstream_only: false',
      'limits: { max_recipients: 50 }',
    ].join('\n');
    const a = parseSettingsText(yaml);
    const b = parseSettingsText(JSON.stringify({
      hostname: 'mx.example.com',
      networks: [{ name: 'office', type: 'network', address: '10.1.0.0/16' }],
      relaying: { allowed_hosts: ['office'], upstream_only: false },
      limits: { max_recipients: 50 },
    }));
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a.value, b.value);
  });

  it('an empty text is an empty document', () => {
    const parsed = parseSettingsText('');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, {});
  });

  it('refuses duplicate YAML keys, with a line', () => {
    const parsed = parseSettingsText('relaying:\n  allowed_hosts: [office]\n  allowed_hosts: [Any]\n');
    assert.equal(parsed.ok, false);
    assert.ok(!parsed.ok && parsed.errors.length >= 1);
    assert.ok(!parsed.ok && parsed.errors.some((e) => /line [1-9]/.test(e.path)), JSON.stringify(!parsed.ok && parsed.errors));
  });

  it('refuses duplicate keys at the top level', () => {
    assert.equal(parseSettingsText('hostname: a.example\nhostname: b.example\n').ok, false);
  });

  it('refuses duplicate keys in JSON too', () => {
    assert.equal(parseSettingsText('{"relaying": {"allowed_hosts": ["office"], "allowed_hosts": ["Any"]}}').ok, false);
  });

  it('refuses malformed text', () => {
    assert.equal(parseSettingsText('relaying: [unclosed').ok, false);
    assert.equal(parseSettingsText('{"hostname": }').ok, false);
  });

  it('a legacy address unquoted in YAML is still refused (as a number or a bad address)', () => {
    const parsed = parseSettingsText('hostname: mx.example.com\nnetworks:\n  - { name: h, type: host, address: 10.1 }\n  - { name: h2, type: host, address: 010.1.2.3 }\n');
    assert.ok(parsed.ok);
    const { rawErrors } = check(parsed.value);
    assert.deepEqual(rawErrors.map((e) => e.path).sort(), ['networks[0].address', 'networks[1].address']);
  });
});

describe('trusted proxies and the open-relay guard (issue #13)', () => {
  // A trusted proxy chooses the client address every rule sees: with any relay
  // host, a client that may send a PROXY header can claim that host's address.
  const WIDE: [string, Doc][] = [
    ['64.0.0.0/2', { name: 'wide', type: 'network', address: '64.0.0.0/2' }],
    ['0.0.0.0/2', { name: 'wide', type: 'network', address: '0.0.0.0/2' }],
    ['2000::/4', { name: 'wide', type: 'network', address: '2000::/4' }],
    ['a public /15 (131,072 addresses)', { name: 'wide', type: 'network', address: '11.0.0.0/15' }],
    ['an IPv6 /47', { name: 'wide', type: 'network', address: '2a00:1450::/47' }],
  ];

  function proxied(def: Doc, ack = false): Doc {
    const doc = base();
    doc.networks.push(structuredClone(def));
    doc.listeners[0].trusted_proxies = ['wide'];
    doc.relaying.open_relay_acknowledged = ack;
    return doc;
  }

  for (const [what, def] of WIDE) {
    it(`${what} as trusted_proxies, with a relay host: refused as an open relay`, () => {
      const e = onlyError(proxied(def), 'listeners[0].trusted_proxies', /open relay/);
      assert.match(e.message, /"wide" lets .* send a PROXY header, which can claim a relay host's address/);
      assert.match(e.message, /open_relay_acknowledged/);
    });

    it(`${what} as trusted_proxies: accepted with open_relay_acknowledged, loudly, and rule 8 calls it open`, () => {
      const doc = proxied(def, true);
      const { errors, rawWarnings } = check(doc);
      assert.deepEqual(errors, []);
      const loud = rawWarnings.filter((w) => w.message.includes('OPEN RELAY'));
      assert.deepEqual(loud.map((w) => w.path), ['listeners[0].trusted_proxies']);
      assert.deepEqual(warningsAt(doc, 'relaying.open_relay_acknowledged'), [], 'the acknowledgement is not "set, but not open"');
      const v = validate(doc);
      assert.deepEqual(openRelayReasons(v.settings, v.networks).map((r) => r.split(':')[0]), ['listeners[0].trusted_proxies']);
    });

    it(`${what} as trusted_proxies without any relay host: a warning, not an open relay`, () => {
      const doc = proxied(def);
      doc.relaying.allowed_hosts = [];
      const { errors } = check(doc);
      assert.deepEqual(errors, []);
      const here = warningsAt(doc, 'listeners[0].trusted_proxies');
      assert.equal(here.length, 1);
      assert.match(here[0]?.message ?? '', /PROXY header and so choose the client address every rule sees/);
      const v = validate(doc);
      assert.deepEqual(openRelayReasons(v.settings, v.networks), []);
    });
  }

  it('a public /16 (65,536 addresses) or a private /8 of proxies is fine', () => {
    for (const address of ['11.1.0.0/16', '10.0.0.0/8', '2a00:1450:4001::/48']) {
      const doc = proxied({ name: 'wide', type: 'network', address });
      const { errors, warnings } = check(doc);
      assert.deepEqual([errors, warnings], [[], []], address);
      const v = validate(doc);
      assert.deepEqual(openRelayReasons(v.settings, v.networks), [], address);
    }
  });

  it('proxies that are narrow on each listener but wide together are an open relay', () => {
    const doc = base();
    doc.networks.push({ name: 'lb-a', type: 'range', from: '11.0.0.0', to: '11.0.156.63' }, { name: 'lb-b', type: 'range', from: '12.0.0.0', to: '12.0.156.63' });
    doc.listeners[0].trusted_proxies = ['lb-a'];
    doc.listeners[1].trusted_proxies = ['lb-b'];
    onlyError(doc, 'listeners', /together the trusted_proxies of the listeners let 80000 public IPv4 addresses/);
  });

  it('proxies over half the Internet across listeners are refused even with no relay host and the acknowledgement', () => {
    for (const ack of [false, true]) {
      const doc = base();
      doc.networks.push({ name: 'q1', type: 'network', address: '0.0.0.0/2' }, { name: 'q2', type: 'network', address: '64.0.0.0/2' });
      doc.listeners[0].trusted_proxies = ['q1'];
      doc.listeners[1].trusted_proxies = ['q2'];
      doc.relaying.allowed_hosts = [];
      doc.relaying.open_relay_acknowledged = ack;
      onlyError(doc, 'listeners', /half or more of the Internet/);
    }
  });

  it('the refusal of proxies over half the Internet says so (not "every address")', () => {
    const doc = proxied({ name: 'wide', type: 'network', address: '0.0.0.0/1' }, true);
    const e = onlyError(doc, 'listeners[0].trusted_proxies', /half or more of the Internet/);
    assert.doesNotMatch(e.message, /open_relay_acknowledged/);
  });
});

describe('queue.lease', () => {
  it('defaults to 60s', () => {
    assert.equal(validate(base()).settings.queue.lease, '60s');
  });
  it('takes a duration of at least a second, with a warning under 5s', () => {
    const doc = base();
    doc.queue = { lease: '2m' };
    assert.equal(validate(doc).settings.queue.lease, '2m');
    doc.queue = { lease: '2s' };
    assert.deepEqual(check(doc).errors, []);
    assert.match(warningsAt(doc, 'queue.lease')[0]?.message ?? '', /sent twice/);
    doc.queue = { lease: '100ms' };
    assert.equal(errorsAt(doc, 'queue.lease').length, 1);
    doc.queue = { lease: 'soon' };
    assert.equal(errorsAt(doc, 'queue.lease').length, 1);
  });
});
