// A real OpenLDAP server for the directory tests: Debian's slapd as a child
// process with a throw-away slapd.conf, an mdb database loaded from LDIF
// (people with passwords and mail attributes, groups, a nested group, and an
// Active Directory-like entry with sAMAccountName, userPrincipalName and
// proxyAddresses) and a test CA. slapd must be reached over StartTLS
// (`security tls=1`: it refuses every operation before TLS).
//
// The port: slapd cannot bind port 0 (ldap://127.0.0.1:0/ makes it listen on
// 389, the default), and tests never guess a free port. So slapd listens on a
// Unix socket only (ldapi://) and this fixture listens on 127.0.0.1 port 0 and
// passes the bytes through unchanged: StartTLS, the certificate and every LDAP
// message are between the client and slapd itself. While slapd is stopped the
// fixture resets every new connection (as a dead server's host would refuse it).
//
// With `{ ldaps: true }` the fixture is an ldaps:// endpoint instead: it does
// the TLS (the test CA's certificate) and passes the clear bytes to a slapd
// that then does not require TLS itself (slapd cannot do TLS on ldapi://).

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { missingComponent } from './requires.ts';

const SLAPD = '/usr/sbin/slapd';
const SLAPADD = '/usr/sbin/slapadd';

export const BASE_DN = 'dc=example,dc=test';
export const READER_DN = `cn=reader,${BASE_DN}`;
export const READER_PASSWORD = 'reader-secret';

/** The people in the test directory: login → password, mail addresses, direct groups. */
export const PEOPLE = {
  alice: { password: 'alice-secret', mail: ['alice@example.test', 'a.smith@example.test'] },
  bob: { password: 'bob-secret', mail: ['bob@example.test'] },
  carol: { password: 'carol-secret', mail: ['carol@example.test'] },
  // An Active Directory-like entry: sAMAccountName dave, userPrincipalName dave@corp.example.test, proxyAddresses.
  dave: { password: 'dave-secret', mail: ['dave@example.test', 'dave.alias@example.test'] },
} as const;

/**
 * Groups (groupOfNames, `member`): relay-users has alice and the group devs;
 * devs has carol (so carol is in relay-users through nesting); others has bob;
 * leads is inside devs (a third level: carol is not in it).
 */
export const GROUP_DN = (cn: string): string => `cn=${cn},ou=groups,${BASE_DN}`;
export const PERSON_DN = (uid: string): string => `uid=${uid},ou=people,${BASE_DN}`;

export interface Slapd {
  /** ldap://127.0.0.1:PORT (StartTLS required), or ldaps://127.0.0.1:PORT. */
  url: string;
  /** PEM file of the test CA that signed slapd's certificate. */
  caFile: string;
  caPem: string;
  /** A PEM file of another CA (a certificate slapd's does not chain to). */
  otherCaFile: string;
  running(): boolean;
  /** Stops slapd (SIGTERM, waits for its exit); new connections are then reset. */
  stop(): Promise<void>;
  /** Starts it again on the same database and port. */
  start(): Promise<void>;
  /** slapd's log (stats level) so far, for a failing test's message. */
  log(): string;
  /** TCP connections accepted so far (while slapd ran): how often clients connected. */
  connections(): number;
}

/** A skip reason when slapd is not installed (make test installs Debian's slapd as root). */
export function slapdMissing(): string | false {
  if (existsSync(SLAPD) && existsSync(SLAPADD)) return false;
  return missingComponent('slapd', `${SLAPD} is not installed (make test installs Debian's slapd and ldap-utils when run as root)`);
}

// Active Directory's attributes, with their AD OIDs, for the AD-like entry
// (slapd's standard schema has none of them).
const AD_SCHEMA = `
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.210 NAME 'proxyAddresses' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( 1.3.6.1.4.1.32473.1.2.1 NAME 'mailwardenTestAdUser' AUXILIARY MAY ( sAMAccountName $ userPrincipalName $ proxyAddresses ) )
`;

function ldif(): string {
  const person = (uid: string, extra: string[] = []): string => {
    const p = PEOPLE[uid as keyof typeof PEOPLE];
    return [`dn: ${PERSON_DN(uid)}`, 'objectClass: inetOrgPerson', ...extra.filter((l) => l.startsWith('objectClass')), `uid: ${uid}`, `cn: ${uid}`, `sn: ${uid}`, ...p.mail.filter((_, i) => uid !== 'dave' || i === 0).map((m) => `mail: ${m}`), `userPassword: ${p.password}`, ...extra.filter((l) => !l.startsWith('objectClass'))].join('\n');
  };
  const group = (cn: string, members: string[]): string => [`dn: ${GROUP_DN(cn)}`, 'objectClass: groupOfNames', `cn: ${cn}`, ...members.map((m) => `member: ${m}`)].join('\n');
  return [
    [`dn: ${BASE_DN}`, 'objectClass: dcObject', 'objectClass: organization', 'o: Example', 'dc: example'].join('\n'),
    [`dn: ${READER_DN}`, 'objectClass: organizationalRole', 'objectClass: simpleSecurityObject', 'cn: reader', `userPassword: ${READER_PASSWORD}`].join('\n'),
    [`dn: ou=people,${BASE_DN}`, 'objectClass: organizationalUnit', 'ou: people'].join('\n'),
    [`dn: ou=groups,${BASE_DN}`, 'objectClass: organizationalUnit', 'ou: groups'].join('\n'),
    person('alice'),
    person('bob'),
    person('carol'),
    person('dave', ['objectClass: mailwardenTestAdUser', 'sAMAccountName: dave', 'userPrincipalName: dave@corp.example.test', 'proxyAddresses: SMTP:dave@example.test', 'proxyAddresses: smtp:dave.alias@example.test', 'proxyAddresses: X500:/o=Example/ou=Exchange/cn=dave']),
    group('relay-users', [PERSON_DN('alice'), GROUP_DN('devs')]),
    group('devs', [PERSON_DN('carol'), GROUP_DN('leads')]),
    group('leads', [PERSON_DN('dave')]),
    group('others', [PERSON_DN('bob')]),
  ].join('\n\n') + '\n';
}

async function certificates(): Promise<{ caPem: string; certPem: string; keyPem: string; otherCaPem: string }> {
  const days = (n: number) => new Date(Date.now() + n * 86_400_000);
  const caExt = [
    { name: 'basicConstraints' as const, cA: true, critical: true },
    { name: 'keyUsage' as const, keyCertSign: true, cRLSign: true, critical: true },
  ];
  const ca = await generate([{ name: 'commonName', value: 'mailwarden test directory CA' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate: days(-1), notAfterDate: days(7), extensions: caExt });
  const other = await generate([{ name: 'commonName', value: 'another CA' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate: days(-1), notAfterDate: days(7), extensions: caExt });
  const leaf = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: days(-1),
    notAfterDate: days(7),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { caPem: ca.cert, certPem: leaf.cert, keyPem: leaf.private, otherCaPem: other.cert };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((done, fail) => execFile(cmd, args, { timeout: 30_000 }, (err, _out, stderr) => (err ? fail(new Error(`${cmd} failed: ${stderr || err.message}`)) : done())));
}

/** Starts slapd with the test directory; stopped and removed when the test ends. */
export async function startSlapd(t: { after: (fn: () => void | Promise<void>) => void }, opts: { ldaps?: boolean } = {}): Promise<Slapd> {
  // Short: a Unix socket path has at most 107 bytes.
  const dir = mkdtempSync('/tmp/mw-slapd-');
  const db = join(dir, 'db');
  const sock = join(dir, 'ldapi');
  const certs = await certificates();
  const caFile = join(dir, 'ca.pem');
  const otherCaFile = join(dir, 'other-ca.pem');
  writeFileSync(caFile, certs.caPem);
  writeFileSync(otherCaFile, certs.otherCaPem);
  writeFileSync(join(dir, 'cert.pem'), certs.certPem);
  writeFileSync(join(dir, 'key.pem'), certs.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ad.schema'), AD_SCHEMA);
  writeFileSync(join(dir, 'data.ldif'), ldif());
  const conf = join(dir, 'slapd.conf');
  writeFileSync(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      `include ${join(dir, 'ad.schema')}`,
      `pidfile ${join(dir, 'slapd.pid')}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      `TLSCertificateFile ${join(dir, 'cert.pem')}`,
      `TLSCertificateKeyFile ${join(dir, 'key.pem')}`,
      `TLSCACertificateFile ${caFile}`,
      // Every operation needs TLS first: a client that skipped StartTLS fails
      // (ldaps: the fixture did the TLS, slapd sees the clear bytes).
      opts.ldaps ? '' : 'security tls=1',
      'database mdb',
      `suffix "${BASE_DN}"`,
      `rootdn "cn=admin,${BASE_DN}"`,
      `directory ${db}`,
      'maxsize 10485760',
      'access to attrs=userPassword by anonymous auth by self auth by * none',
      `access to * by dn.exact="${READER_DN}" read by self read by * none`,
      '',
    ].join('\n'),
  );
  mkdirSync(db);
  await run(SLAPADD, ['-q', '-f', conf, '-l', join(dir, 'data.ldif')]);

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  const live = new Set<Socket>();
  let accepted = 0;
  const pass = (client: Socket): void => {
    if (!child) {
      if (opts.ldaps) client.destroy();
      else client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = connect(sock);
    live.add(client).add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const proxy: Server = opts.ldaps ? createTlsServer({ key: certs.keyPem, cert: certs.certPem }, pass) : createServer(pass);
  await new Promise<void>((done, fail) => {
    proxy.once('error', fail);
    proxy.listen(0, '127.0.0.1', () => done());
  });
  const port = (proxy.address() as { port: number }).port;

  const start = async (): Promise<void> => {
    if (child) return;
    rmSync(sock, { force: true });
    // -d 264 (stats and connections): slapd stays in the foreground and logs
    // "daemon: added NNr listener=0x…" once its socket listens ("slapd
    // starting" comes before listen(): a connection then is refused).
    const c = spawn(SLAPD, ['-d', '264', '-f', conf, '-h', `ldapi://${encodeURIComponent(sock)}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    exited = new Promise((done) => c.once('exit', () => done()));
    c.stderr?.setEncoding('utf8');
    await new Promise<void>((done, fail) => {
      let seen = '';
      const timer = setTimeout(() => fail(new Error(`slapd did not start within 15 s:\n${seen}`)), 15_000);
      c.stderr?.on('data', (d: string) => {
        log += d;
        seen += d;
        if (/daemon: added \d+r listener=0x/.test(seen)) {
          clearTimeout(timer);
          done();
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`slapd exited (${code}) before it started:\n${seen}`));
      });
    });
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = null;
    for (const s of live) s.destroy();
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await exited;
  };

  t.after(async () => {
    await stop();
    await new Promise<void>((done) => proxy.close(() => done()));
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return { url: `${opts.ldaps ? 'ldaps' : 'ldap'}://127.0.0.1:${port}`, caFile, caPem: certs.caPem, otherCaFile, running: () => child !== null, stop, start, log: () => log, connections: () => accepted };
}
