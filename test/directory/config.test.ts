// The `directories` settings: defaults, validation (names, URL and TLS,
// filters, the clear-text rule), directory groups in the relay rules, the
// bind password as a secret (never shown, kept on an edit that leaves it out
// for the same server and account only), and the change list.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { carrySecrets, redactSecrets } from '../../src/config/secrets.ts';
import { diffSettings, secretChanges } from '../../src/config/diff.ts';
import { embeddedDefaults } from '../../src/config/document.ts';

const base = { hostname: 'mx.example.com', listeners: [] };
const corp = { name: 'corp', url: 'ldap://ldap.example.com', base_dn: 'dc=example,dc=com', bind_dn: 'cn=reader,dc=example,dc=com', bind_password: 'pw' };

function errorsOf(doc: unknown): string[] {
  return validate(doc).errors.map((e) => `${e.path}: ${e.message}`);
}
function warningsOf(doc: unknown): string[] {
  return validate(doc).warnings.map((e) => `${e.path}: ${e.message}`);
}
const withDir = (over: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ ...base, directories: [{ ...corp, ...over }], ...extra });

describe('directories: defaults and shape', () => {
  it('none by default', () => {
    assert.deepEqual(embeddedDefaults().directories, []);
    assert.deepEqual(validate(base).settings.directories, []);
  });

  it('fills in the documented defaults, tls from the URL', () => {
    const v = validate(withDir());
    assert.deepEqual(v.errors, []);
    assert.deepEqual(v.settings.directories[0], {
      ...corp,
      type: 'ldap',
      user_filter: '(&(objectClass=inetOrgPerson)(uid={login}))',
      group_member_attribute: 'member',
      nested_group_depth: 5,
      mail_attributes: ['mail'],
      tls: 'starttls',
      timeout: '5s',
      cache: '5m',
    });
    assert.equal(validate(withDir({ url: 'ldaps://dc1.example.com:636' })).settings.directories[0]?.tls, 'ldaps');
  });

  it('refuses unknown keys and types, and names the path', () => {
    assert.deepEqual(errorsOf(withDir({ bind_pasword: 'x', type: 'ad' })), [
      'directories[0].bind_pasword: unknown setting "bind_pasword" (did you mean "bind_password"?)',
      'directories[0].type: must be one of ldap, got string "ad"',
    ]);
  });

  it('an empty optional text is absent', () => {
    const d = validate(withDir({ bind_dn: '', bind_password: '', group_filter: '', ca: '' })).settings.directories[0];
    assert.equal(d && ('bind_dn' in d || 'bind_password' in d || 'group_filter' in d || 'ca' in d), false);
  });

  it('durations are checked', () => {
    assert.deepEqual(errorsOf(withDir({ timeout: '2m', cache: 'soon' })), ['directories[0].timeout: must be between 100 ms and 60 s', 'directories[0].cache: ' + validate(withDir({ cache: 'soon' })).errors[0]?.message]);
    assert.deepEqual(errorsOf(withDir({ cache: '0s' })), []);
  });
});

describe('directories: validation', () => {
  it('names are unique and cannot hold a colon', () => {
    assert.deepEqual(errorsOf({ ...base, directories: [corp, { ...corp }] }), ['directories[1].name: directory "corp" is already defined at directories[0]']);
    assert.match(errorsOf(withDir({ name: 'co:rp' })).join('\n'), /directories\[0\]\.name: .*no colon/);
  });

  it('the URL is ldap:// or ldaps:// with a host and nothing else', () => {
    assert.match(errorsOf(withDir({ url: 'http://ldap.example.com' })).join(), /directories\[0\]\.url: must be an ldap:\/\/ or ldaps:\/\/ URL/);
    assert.match(errorsOf(withDir({ url: 'ldap.example.com' })).join(), /directories\[0\]\.url: "ldap.example.com" is not a URL/);
    assert.match(errorsOf(withDir({ url: 'ldap://ldap.example.com/dc=example,dc=com' })).join(), /directories\[0\]\.url: give only ldap\[s\]:\/\/host\[:port\]/);
  });

  it('tls matches the URL', () => {
    assert.match(errorsOf(withDir({ url: 'ldaps://dc1.example.com', tls: 'starttls' })).join(), /directories\[0\]\.tls: an ldaps:\/\/ URL is TLS from the start/);
    assert.match(errorsOf(withDir({ tls: 'ldaps' })).join(), /directories\[0\]\.tls: ldaps needs an ldaps:\/\/ URL/);
  });

  it('tls none: allowed to this machine, refused elsewhere unless acknowledged (then a warning)', () => {
    assert.deepEqual(errorsOf(withDir({ url: 'ldap://127.0.0.1:389', tls: 'none' })), []);
    assert.deepEqual(errorsOf(withDir({ url: 'ldap://[::1]', tls: 'none' })), []);
    assert.deepEqual(errorsOf(withDir({ url: 'ldap://localhost', tls: 'none' })), []);
    assert.match(errorsOf(withDir({ tls: 'none' })).join(), /directories\[0\]\.tls: none would send every user's password over the network in clear text/);
    assert.deepEqual(errorsOf(withDir({ tls: 'none', plaintext_acknowledged: true })), []);
    assert.match(warningsOf(withDir({ tls: 'none', plaintext_acknowledged: true })).join(), /directories\[0\]\.tls: none: every user's password crosses the network in clear text/);
    assert.match(warningsOf(withDir({ plaintext_acknowledged: true })).join(), /directories\[0\]\.plaintext_acknowledged: set, but tls is starttls/);
  });

  it('bind_dn and bind_password come together', () => {
    assert.match(errorsOf(withDir({ bind_password: undefined })).join(), /directories\[0\]\.bind_password: bind_dn needs its password/);
    assert.match(errorsOf(withDir({ bind_dn: undefined })).join(), /directories\[0\]\.bind_dn: bind_password is given without bind_dn/);
    // Anonymous searches: neither.
    assert.deepEqual(errorsOf(withDir({ bind_dn: undefined, bind_password: undefined })), []);
  });

  it('filters: {login} required in user_filter, known placeholders only, balanced parentheses', () => {
    assert.match(errorsOf(withDir({ user_filter: '(uid=alice)' })).join(), /user_filter: must contain \{login\}/);
    assert.match(errorsOf(withDir({ user_filter: '(uid={user})' })).join(), /user_filter: unknown placeholder \{user\}/);
    assert.match(errorsOf(withDir({ user_filter: 'uid={login}' })).join(), /user_filter: an LDAP filter is written in parentheses/);
    assert.match(errorsOf(withDir({ user_filter: '(&(uid={login})(objectClass=person)' })).join(), /user_filter: its parentheses do not match/);
    assert.match(errorsOf(withDir({ group_filter: '(member={dn}' })).join(), /group_filter: /);
    assert.match(errorsOf(withDir({ group_member_attribute: 'mem ber', mail_attributes: ['mail', 'proxy;x'] })).join('\n'), /group_member_attribute: "mem ber" is not an attribute name\n.*mail_attributes\[1\]: "proxy;x" is not an attribute name/);
  });

  it('Active Directory filters parse: sAMAccountName or userPrincipalName logins, the in-chain matching rule', () => {
    assert.deepEqual(
      errorsOf(
        withDir({
          user_filter: '(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={login})(userPrincipalName={login})))',
          group_filter: '(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))',
          nested_group_depth: 0,
          mail_attributes: ['mail', 'proxyAddresses'],
        }),
      ),
      [],
    );
  });

  it('a group filter without {dn} cannot follow nesting: a warning', () => {
    assert.match(warningsOf(withDir({ group_filter: '(memberUid={login})' })).join(), /nested_group_depth: the group_filter has no \{dn\}/);
    assert.doesNotMatch(warningsOf(withDir({ group_filter: '(memberUid={login})', nested_group_depth: 0 })).join(), /nested_group_depth/);
  });
});

describe('directory groups in the relay rules', () => {
  const relaying = (groups: string[]) => ({ relaying: { authenticated_relay: { enabled: true, groups } } });

  it('directory:group is accepted when the directory exists', () => {
    assert.deepEqual(errorsOf(withDir({}, relaying(['corp:relay-users']))), []);
  });

  it('refused when the directory does not exist, or the group part is empty', () => {
    assert.deepEqual(errorsOf(withDir({}, relaying(['other:relay-users', 'corp:']))), [
      'relaying.authenticated_relay.groups[0]: unknown directory "other" in "other:relay-users" (a directory\'s group is written directory-name:group-name)',
      'relaying.authenticated_relay.groups[1]: "corp:" names no group after the colon',
    ]);
    assert.deepEqual(errorsOf({ ...base, ...relaying(['staff']) }), ['relaying.authenticated_relay.groups[0]: unknown user group "staff"']);
  });

  it('removing a directory its groups still name is refused', () => {
    assert.match(errorsOf({ ...base, ...relaying(['corp:relay-users']) }).join(), /unknown directory "corp"/);
  });
});

describe('the bind password is a secret', () => {
  const settings = () => validate(withDir()).settings;

  it('never in a redacted export', () => {
    const r = redactSecrets(settings());
    assert.equal('bind_password' in (r.directories[0] ?? {}), false);
    assert.equal(JSON.stringify(r).includes('"pw"'), false);
  });

  it('kept when the same directory comes back without it', () => {
    const raw = { ...base, directories: [{ ...corp, bind_password: undefined, timeout: '3s' }] };
    const carried = carrySecrets(raw, settings()) as { directories: { bind_password?: string }[] };
    assert.equal(carried.directories[0]?.bind_password, 'pw');
    const empty = carrySecrets({ ...base, directories: [{ ...corp, bind_password: '' }] }, settings()) as { directories: { bind_password?: string }[] };
    assert.equal(empty.directories[0]?.bind_password, 'pw');
    assert.deepEqual(validate(carried).errors, []);
  });

  it('not carried to another server or account: the edit must give it again', () => {
    for (const change of [{ url: 'ldap://evil.example.net' }, { bind_dn: 'cn=other,dc=example,dc=com' }]) {
      const raw = { ...base, directories: [{ ...corp, bind_password: undefined, ...change }] };
      const carried = carrySecrets(raw, settings()) as { directories: { bind_password?: string }[] };
      assert.equal(carried.directories[0]?.bind_password, undefined);
      assert.match(errorsOf(carried).join(), /bind_password: bind_dn needs its password/);
    }
  });

  it('a new password is a secret change, by path only', () => {
    const a = settings();
    const b = validate(withDir({ bind_password: 'new' })).settings;
    assert.deepEqual(secretChanges(a, b), ['directories["corp"].bind_password']);
    assert.deepEqual(diffSettings(redactSecrets(a), redactSecrets(b)), []);
  });

  it('the change list names a directory by name', () => {
    const a = validate(withDir()).settings;
    const b = validate({ ...base, directories: [{ ...corp, timeout: '3s' }, { ...corp, name: 'branch' }] }).settings;
    const changes = diffSettings(redactSecrets(a), redactSecrets(b));
    assert.deepEqual(
      changes.map((c) => `${c.op} ${c.path}`),
      ['changed directories["corp"].timeout', 'added directories["branch"]'],
    );
  });
});
