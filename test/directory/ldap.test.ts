// The Directories port over LDAP against a real slapd (test/support/slapd.ts,
// StartTLS with a test CA): AUTH by binding as the user, exactly one entry,
// filter injection, groups with nesting, addresses (mail and AD's
// proxyAddresses), the cache, connection reuse, and every way a directory can
// fail to answer (stopped, refused, silent, untrusted certificate, no TLS)
// throwing instead of reading as "unknown user".

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { validate } from '../../src/config/validate.ts';
import { compileSnapshot, type Snapshot } from '../../src/config/snapshot.ts';
import { LdapDirectories } from '../../src/directory/ldap-directories.ts';
import { DirectoryUnavailable } from '../../src/directory/ldap-connection.ts';
import { escapeFilterValue, fillFilter, filterSyntaxProblem } from '../../src/directory/filter.ts';
import { FilterParser } from 'ldapts';
import { addressesFrom } from '../../src/directory/addresses.ts';
import { TtlCache } from '../../src/directory/ttl-cache.ts';
import { BASE_DN, PEOPLE, READER_DN, READER_PASSWORD, slapdMissing, startSlapd, type Slapd } from '../support/slapd.ts';
import { freePort } from '../smtp/harness.ts';

describe('filter escaping (RFC 4515)', () => {
  it('escapes the five characters a value must not carry', () => {
    assert.equal(escapeFilterValue('*)(uid=*'), '\\2a\\29\\28uid=\\2a');
    assert.equal(escapeFilterValue('a\\b\0c'), 'a\\5cb\\00c');
    assert.equal(escapeFilterValue('jürgen.o\'neil@example.com'), 'jürgen.o\'neil@example.com');
  });

  it('an injection attempt stays one literal value, as the LDAP client encodes it', () => {
    const parsed = FilterParser.parseString(fillFilter('(&(objectClass=person)(uid={login}))', { login: '*)(uid=*' })) as unknown as { filters: { attribute: string; value: string }[] };
    assert.equal(parsed.filters.length, 2);
    assert.deepEqual({ attribute: parsed.filters[1]?.attribute, value: parsed.filters[1]?.value }, { attribute: 'uid', value: '*)(uid=*' });
  });

  it('the syntax check (no LDAP client loaded) accepts what the client parses, and says where a filter goes wrong', () => {
    for (const f of ['(uid=x)', '(&(objectClass=inetOrgPerson)(uid=\\2a\\29))', '(|(a=b)(!(c=d)))', '(cn=*)', '(cn=a*b*)', '(member:1.2.840.113556.1.4.1941:=cn=x,dc=y)', '(cn:dn:=x)', '(:dn:2.4.6:=x)', '(age>=5)', '(cn~=bob)', '(uid=jürgen)']) {
      assert.equal(filterSyntaxProblem(f), null, f);
      assert.doesNotThrow(() => FilterParser.parseString(f), f);
    }
    const bad: [string, string][] = [
      ['(uid=x', '")" is expected at character 7'],
      ['(&)', '"&" needs at least one filter in parentheses at character 3'],
      ['(uid=(x))', '"(" in a value must be escaped (\\28, \\00) at character 6'],
      ['(uid=\\zz)', '"\\" must be followed by two hexadecimal digits at character 6'],
      ['(=x)', 'an attribute name is expected at character 2'],
      ['(uid=x))', 'text after the filter at character 8'],
      ['(uid~=a*)', '"*" in this value must be escaped (\\2a) at character 8'],
      ['(:=x)', 'an extensible match needs an attribute or a matching rule at character 2'],
      ['(cn;lang-en=x)', '"=", "~=", ">=", "<=" or ":=" is expected at character 4'],
    ];
    for (const [f, why] of bad) assert.equal(filterSyntaxProblem(f), `not an LDAP filter: ${why}`, f);
  });

  it('fills every placeholder, escaped, and leaves the template\'s own syntax alone', () => {
    assert.equal(fillFilter('(&(objectClass=person)(uid={login}))', { login: '*)(uid=*' }), '(&(objectClass=person)(uid=\\2a\\29\\28uid=\\2a))');
    assert.equal(fillFilter('(|(member={dn})(memberUid={login}))', { dn: 'cn=a\\,b,dc=x', login: 'al*' }), '(|(member=cn=a\\5c,b,dc=x)(memberUid=al\\2a))');
  });
});

describe('addresses from mail attributes', () => {
  it('keeps mail values, strips smtp:/SMTP: from proxyAddresses, drops other types, each address once', () => {
    assert.deepEqual(addressesFrom(['a@example.test', 'SMTP:A@example.test', 'smtp:alias@example.test', 'X500:/o=Org/cn=a', 'SIP:a@example.test', 'not an address', '']), ['a@example.test', 'alias@example.test']);
  });
});

describe('TtlCache', () => {
  it('remembers answers for their time, not failures, and shares a question in flight', async () => {
    let now = 1000;
    const c = new TtlCache<number>({ now: () => now });
    let asked = 0;
    const load = async () => ++asked;
    assert.deepEqual(await Promise.all([c.getOrLoad('k', 100, load), c.getOrLoad('k', 100, load)]), [1, 1]);
    now += 99;
    assert.equal(await c.getOrLoad('k', 100, load), 1);
    now += 1;
    assert.equal(await c.getOrLoad('k', 100, load), 2);
    await assert.rejects(c.getOrLoad('bad', 100, async () => Promise.reject(new Error('down'))), /down/);
    assert.equal(await c.getOrLoad('bad', 100, load), 3);
    const small = new TtlCache<number>({ max: 2 });
    small.set('a', 1, 1000);
    small.set('b', 2, 1000);
    small.set('c', 3, 1000);
    assert.equal(small.get('a'), undefined);
    assert.equal(small.size, 2);
  });
});

function snapshotOf(directories: Record<string, unknown>[], groups: string[] = ['corp:relay-users']): Snapshot {
  const v = validate({ hostname: 'mx.example.test', listeners: [], directories, relaying: { authenticated_relay: { enabled: true, groups } } });
  assert.deepEqual(v.errors, []);
  return compileSnapshot(v.settings, 1);
}

const skip = slapdMissing();

describe('LDAP directories against slapd', { skip }, () => {
  let slapd: Slapd;
  const cleanups: (() => void | Promise<void>)[] = [];
  before(async () => {
    slapd = await startSlapd({ after: (fn) => cleanups.push(fn) });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  const corp = (over: Record<string, unknown> = {}) => ({ name: 'corp', url: slapd.url, ca: slapd.caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD, ...over });
  const ad = (over: Record<string, unknown> = {}) =>
    corp({
      name: 'ad',
      user_filter: '(&(objectClass=inetOrgPerson)(|(sAMAccountName={login})(userPrincipalName={login})))',
      mail_attributes: ['mail', 'proxyAddresses'],
      ...over,
    });

  it('AUTH: binds as the user found; the identity has the groups (nested ones too) and the addresses', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp()]);
    assert.deepEqual(await dirs.authenticate(snap, 'alice', PEOPLE.alice.password), { name: 'alice', directory: 'corp', enabled: true, groups: ['corp:relay-users'], addresses: ['alice@example.test', 'a.smith@example.test'] });
    const carol = await dirs.authenticate(snap, 'carol', PEOPLE.carol.password);
    assert.deepEqual([...(carol?.groups ?? [])].sort(), ['corp:devs', 'corp:relay-users']);
    const bob = await dirs.authenticate(snap, 'bob', PEOPLE.bob.password);
    assert.deepEqual(bob?.groups, ['corp:others']);
  });

  it('nesting is followed as deep as nested_group_depth says, and no deeper', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const groupsAt = async (depth: number) => [...((await dirs.lookup(snapshotOf([corp({ nested_group_depth: depth })]), 'dave'))?.groups ?? [])].sort();
    assert.deepEqual(await groupsAt(0), ['corp:leads']);
    assert.deepEqual(await groupsAt(1), ['corp:devs', 'corp:leads']);
    assert.deepEqual(await groupsAt(2), ['corp:devs', 'corp:leads', 'corp:relay-users']);
    assert.deepEqual(await groupsAt(5), ['corp:devs', 'corp:leads', 'corp:relay-users']);
  });

  it('wrong password, unknown login and an empty password are no identity', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp()]);
    assert.equal(await dirs.authenticate(snap, 'alice', 'wrong'), null);
    assert.equal(await dirs.authenticate(snap, 'alice', PEOPLE.bob.password), null);
    assert.equal(await dirs.authenticate(snap, 'nobody', 'x'), null);
    assert.equal(await dirs.authenticate(snap, 'alice', ''), null);
  });

  it('a login cannot widen the search: *)(uid=* and friends match nobody', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp()]);
    for (const login of ['*', '*)(uid=*', 'alice)(|(uid=*', 'a*', '*)(|(objectClass=*']) {
      assert.equal(await dirs.lookup(snap, login), null, login);
      assert.equal(await dirs.authenticate(snap, login, PEOPLE.alice.password), null, login);
    }
  });

  it('exactly one entry must match: a filter that finds two logs in nobody', async (t) => {
    const logged: unknown[] = [];
    const dirs = new LdapDirectories({ logger: { log: (event, fields) => logged.push({ event, ...fields }) } });
    t.after(() => dirs.close());
    // {login} is required, but this filter also matches every person.
    const snap = snapshotOf([corp({ user_filter: '(|(uid={login})(objectClass=inetOrgPerson))' })]);
    assert.equal(await dirs.authenticate(snap, 'alice', PEOPLE.alice.password), null);
    assert.equal(await dirs.lookup(snap, 'alice'), null);
    assert.deepEqual(logged, [{ event: 'directory.ambiguous', directory: 'corp', user: 'alice', entries: 2 }]);
  });

  it('Active Directory-like: sAMAccountName or userPrincipalName logins, proxyAddresses without their smtp: prefix', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([ad()], ['ad:relay-users']);
    for (const login of ['dave', 'dave@corp.example.test']) {
      const id = await dirs.authenticate(snap, login, PEOPLE.dave.password);
      assert.deepEqual(id?.addresses, ['dave@example.test', 'dave.alias@example.test'], login);
      assert.equal(id?.name, login);
      assert.ok(id?.groups.includes('ad:relay-users'));
    }
    assert.equal(await dirs.hasAddress(snap, 'ad', 'dave.alias@example.test'), true);
    assert.equal(await dirs.hasAddress(snap, 'ad', 'DAVE.Alias@example.test'), true);
  });

  it('group names are spelled as the settings spell them', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const id = await dirs.lookup(snapshotOf([corp()], ['corp:Relay-Users']), 'alice');
    assert.deepEqual(id?.groups, ['corp:Relay-Users']);
  });

  it('hasAddress: any mail attribute, without case; an injection matches nothing; an unknown directory throws', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp()]);
    assert.equal(await dirs.hasAddress(snap, 'corp', 'a.smith@example.test'), true);
    assert.equal(await dirs.hasAddress(snap, 'corp', 'Alice@Example.Test'), true);
    assert.equal(await dirs.hasAddress(snap, 'corp', 'nobody@example.test'), false);
    assert.equal(await dirs.hasAddress(snap, 'corp', '*'), false);
    assert.equal(await dirs.hasAddress(snap, 'corp', '*)(mail=*'), false);
    await assert.rejects(dirs.hasAddress(snap, 'other', 'alice@example.test'), /no directory named "other"/);
  });

  it('searches share one kept connection; each password check has its own', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp({ cache: '0s' })]);
    const before = slapd.connections();
    await Promise.all([dirs.lookup(snap, 'alice'), dirs.lookup(snap, 'bob'), dirs.hasAddress(snap, 'corp', 'bob@example.test')]);
    await dirs.lookup(snap, 'carol');
    assert.equal(slapd.connections() - before, 1);
    await dirs.authenticate(snap, 'alice', PEOPLE.alice.password);
    await dirs.authenticate(snap, 'bob', 'wrong');
    assert.equal(slapd.connections() - before, 3);
    // An unknown login costs a (failing) bind too, as a wrong password does: timing does not tell which logins exist.
    assert.equal(await dirs.authenticate(snap, 'nobody', 'x'), null);
    assert.equal(slapd.connections() - before, 4);
  });

  it('a changed definition: sessions of both revisions keep their connections; the old one is closed once unused for ten minutes', async (t) => {
    let now = 1_000_000;
    const dirs = new LdapDirectories({ now: () => now });
    t.after(() => dirs.close());
    const a = snapshotOf([corp({ cache: '0s' })]);
    const b = snapshotOf([corp({ cache: '0s', timeout: '4s' })]);
    const before = slapd.connections();
    for (const login of ['alice', 'bob', 'carol']) {
      await dirs.lookup(a, login);
      await dirs.lookup(b, login);
    }
    assert.equal(slapd.connections() - before, 2);
    now += 11 * 60_000;
    await dirs.lookup(b, 'alice');
    await dirs.lookup(a, 'alice');
    assert.equal(slapd.connections() - before, 3, 'the old definition was retired, then asked again: a new connection');
  });

  it('a directory that does not answer: AUTH throws (never null), cached lookups still answer, then it comes back', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp()]);
    const alice = await dirs.lookup(snap, 'alice');
    assert.equal(await dirs.lookup(snap, 'nobody'), null);
    assert.equal(await dirs.hasAddress(snap, 'corp', 'bob@example.test'), true);
    assert.equal(await dirs.hasAddress(snap, 'corp', 'nobody@example.test'), false);
    await slapd.stop();
    try {
      await assert.rejects(dirs.authenticate(snap, 'alice', PEOPLE.alice.password), (e: unknown) => e instanceof DirectoryUnavailable && /directory "corp": /.test(e.message));
      await assert.rejects(dirs.authenticate(snap, 'nobody', 'x'), DirectoryUnavailable);
      // From the cache, positive and negative, while slapd is down.
      assert.deepEqual(await dirs.lookup(snap, 'alice'), alice);
      assert.equal(await dirs.lookup(snap, 'nobody'), null);
      assert.equal(await dirs.hasAddress(snap, 'corp', 'bob@example.test'), true);
      assert.equal(await dirs.hasAddress(snap, 'corp', 'nobody@example.test'), false);
      // Not in the cache: asked, and the directory's silence is an error.
      await assert.rejects(dirs.lookup(snap, 'carol'), DirectoryUnavailable);
      await assert.rejects(dirs.hasAddress(snap, 'corp', 'carol@example.test'), DirectoryUnavailable);
    } finally {
      await slapd.start();
    }
    assert.equal((await dirs.authenticate(snap, 'alice', PEOPLE.alice.password))?.name, 'alice');
  });

  it('the certificate must be signed by the CA in ca', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp({ ca: slapd.otherCaFile })]);
    await assert.rejects(dirs.authenticate(snap, 'alice', PEOPLE.alice.password), /directory "corp": the directory's certificate is not trusted \(.*\): it is not signed by the CA in/);
    const none = snapshotOf([corp({ ca: undefined })]);
    await assert.rejects(dirs.lookup(none, 'alice'), /not trusted .*set ca to the PEM file/);
  });

  it('without TLS slapd refuses, and that is an error, not an unknown user', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp({ tls: 'none' })]);
    await assert.rejects(dirs.authenticate(snap, 'alice', PEOPLE.alice.password), /requires TLS/);
  });

  it('a wrong service password is an error, not an unknown user', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    await assert.rejects(dirs.lookup(snapshotOf([corp({ bind_password: 'nope' })]), 'alice'), /refused bind_dn "cn=reader,dc=example,dc=test"/);
    await assert.rejects(dirs.lookup(snapshotOf([corp({ base_dn: 'dc=nowhere,dc=test' })]), 'alice'), /base_dn "dc=nowhere,dc=test" does not exist|may not search/);
  });

  it('anonymous searches (no bind_dn): this slapd hides everything from anonymous users, which is an error, not an unknown user', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp({ bind_dn: undefined, bind_password: undefined })]);
    await assert.rejects(dirs.lookup(snap, 'alice'), /base_dn "dc=example,dc=test" does not exist in the directory, or the anonymous search may not see it/);
    await assert.rejects(dirs.authenticate(snap, 'alice', PEOPLE.alice.password), DirectoryUnavailable);
  });
});

describe('LDAP directories over ldaps://', { skip }, () => {
  let slapd: Slapd;
  const cleanups: (() => void | Promise<void>)[] = [];
  before(async () => {
    slapd = await startSlapd({ after: (fn) => cleanups.push(fn) }, { ldaps: true });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const corp = (over: Record<string, unknown> = {}) => ({ name: 'corp', url: slapd.url, ca: slapd.caFile, base_dn: BASE_DN, bind_dn: READER_DN, bind_password: READER_PASSWORD, ...over });

  it('TLS from the first byte: the certificate checked, AUTH and lookups work, one kept connection', async (t) => {
    assert.match(slapd.url, /^ldaps:\/\/127\.0\.0\.1:\d+$/);
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp({ cache: '0s' })]);
    assert.equal(snap.settings.directories[0]?.tls, 'ldaps');
    const before = slapd.connections();
    assert.deepEqual((await dirs.authenticate(snap, 'alice', PEOPLE.alice.password))?.groups, ['corp:relay-users']);
    assert.equal(await dirs.authenticate(snap, 'alice', 'wrong'), null);
    assert.equal(await dirs.hasAddress(snap, 'corp', 'bob@example.test'), true);
    // One kept search connection and one per password check.
    assert.equal(slapd.connections() - before, 3);
    await assert.rejects(dirs.lookup(snapshotOf([corp({ ca: slapd.otherCaFile })]), 'bob'), /the directory's certificate is not trusted/);
  });

  it('stopped, then back: an error while away, a new connection after (the kept one is not reopened in clear text)', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const snap = snapshotOf([corp({ cache: '0s' })]);
    assert.ok(await dirs.lookup(snap, 'bob'));
    await slapd.stop();
    try {
      await assert.rejects(dirs.lookup(snap, 'bob'), DirectoryUnavailable);
    } finally {
      await slapd.start();
    }
    assert.ok(await dirs.lookup(snap, 'bob'));
  });
});

describe('LDAP directories that do not answer', () => {
  const dir = (url: string, over: Record<string, unknown> = {}) => snapshotOf([{ name: 'corp', url, base_dn: 'dc=example,dc=test', tls: 'none', timeout: '300ms', ...over }]);

  it('connection refused: throws, naming the host', async (t) => {
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    const port = await freePort();
    await assert.rejects(dirs.authenticate(dir(`ldap://127.0.0.1:${port}`), 'alice', 'pw'), new RegExp(`directory "corp": nothing answers at 127.0.0.1:${port} \\(connection refused\\)`));
  });

  it('a server that accepts and never answers: throws after the timeout (StartTLS and plain alike)', async (t) => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s));
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    t.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const dirs = new LdapDirectories();
    t.after(() => dirs.close());
    for (const tls of ['none', 'starttls']) {
      const started = Date.now();
      await assert.rejects(dirs.authenticate(dir(`ldap://127.0.0.1:${port}`, { tls }), 'alice', 'pw'), new RegExp(`no answer from 127.0.0.1:${port} within 300ms`));
      assert.ok(Date.now() - started < 5000, `${tls}: gave up after ${Date.now() - started} ms`);
    }
  });
});
