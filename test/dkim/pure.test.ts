// The pure parts of DKIM signing: which keys sign a message (chooseKeys), the
// DNS record of a key and the comparison with a published one, the settings
// block (shape, validation, defaults of an old document), the secret `key`
// (redacted, carried over, reported as a secret change), and the signer on a
// message source with a header edit (the signature lands on top, the edit is
// what is signed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { chooseKeys, signable, wantsSigning } from '../../src/dkim/choose.ts';
import { compareRecord, dnsRecord, generateKey, parsePrivateKey, publicKeyValue } from '../../src/dkim/keys.ts';
import { defaultDkim, embeddedDefaults, type DkimKeyDef, type DkimSettings } from '../../src/config/document.ts';
import { validate } from '../../src/config/validate.ts';
import { carrySecrets, redactSecrets } from '../../src/config/secrets.ts';
import { secretChanges } from '../../src/config/diff.ts';
import { signMessage, withSignature } from '../../src/dkim/signer.ts';
import { dropOurSignatures } from '../../src/dkim/resign.ts';
import { editHeaders } from '../../src/scan/header-edit.ts';

const ED = generateKey('ed25519-sha256', 0);
const RSA = generateKey('rsa-sha256', 1024);
const k = (domain: string, selector: string, extra: Partial<DkimKeyDef> = {}): DkimKeyDef => ({ domain, selector, algorithm: 'ed25519-sha256', key: ED, ...extra });
const settings = (keys: DkimKeyDef[], more: Partial<DkimSettings> = {}): DkimSettings => ({ ...defaultDkim(), keys, ...more });

test('chooseKeys: From domain, parent domain with subdomains, several keys, refusals', () => {
  const a = k('example.org', 'a');
  const b = k('example.org', 'b', { algorithm: 'rsa-sha256', key: RSA });
  const sub = k('news.example.org', 'n');
  const s = settings([a, b, sub]);
  assert.deepEqual(chooseKeys(s, true, ['x@example.org']), { sign: true, domain: 'example.org', keys: [a, b] });
  assert.deepEqual(chooseKeys(s, true, ['x@EXAMPLE.org.']), { sign: true, domain: 'example.org', keys: [a, b] });
  // The most specific domain wins.
  assert.deepEqual(chooseKeys(s, true, ['x@news.example.org']), { sign: true, domain: 'news.example.org', keys: [sub] });
  assert.deepEqual(chooseKeys(s, true, ['x@deep.shop.example.org']), { sign: true, domain: 'example.org', keys: [a, b] });
  assert.deepEqual(chooseKeys(settings([a], { subdomains: false }), true, ['x@shop.example.org']), { sign: false, reason: 'no_key', domain: 'shop.example.org' });
  assert.deepEqual(chooseKeys(s, true, ['x@other.example']), { sign: false, reason: 'no_key', domain: 'other.example' });
  // A key of "org" is never reached from example.org unless configured; a lookalike is not a parent.
  assert.deepEqual(chooseKeys(s, true, ['x@badexample.org']), { sign: false, reason: 'no_key', domain: 'badexample.org' });
  assert.deepEqual(chooseKeys(s, true, []), { sign: false, reason: 'no_from' });
  assert.deepEqual(chooseKeys(s, true, ['']), { sign: false, reason: 'no_from' });
  assert.deepEqual(chooseKeys(s, true, ['a@example.org', 'b@example.org']), { sign: false, reason: 'several_from' });
  assert.deepEqual(chooseKeys(s, false, ['x@example.org']), { sign: false, reason: 'not_relayed' });
  // Several From fields, even when one is empty (it adds no address), are not signed.
  assert.deepEqual(chooseKeys(s, true, ['x@example.org'], 2), { sign: false, reason: 'several_from' });
});

test('wantsSigning: nothing to do without keys, or for mail we do not relay in mode relayed', () => {
  assert.equal(wantsSigning(defaultDkim(), true), false);
  assert.equal(wantsSigning(settings([k('e.org', 's')]), true), true);
  assert.equal(wantsSigning(settings([k('e.org', 's')]), false), false);
  assert.equal(wantsSigning(settings([k('e.org', 's')], { sign: 'all' }), false), false);
});

test('signable: relayed signs relay-right clients with a relayed recipient; all adds their mail to our domains; never a client without a right', () => {
  const relayed = settings([k('e.org', 's')]);
  const all = settings([k('e.org', 's')], { sign: 'all' });
  assert.equal(signable(relayed, true, true), true);
  assert.equal(signable(relayed, true, false), false);
  assert.equal(signable(relayed, false, true), false);
  assert.equal(signable(all, true, true), true);
  assert.equal(signable(all, true, false), true);
  // Inbound Internet mail: whatever sign says.
  assert.equal(signable(all, false, false), false);
  assert.equal(signable(all, false, true), false);
});

test('dnsRecord and compareRecord: the record of each key type; mismatches named', () => {
  const ed = parsePrivateKey(ED, 'ed25519-sha256');
  const rsa = parsePrivateKey(RSA, 'rsa-sha256');
  const r = dnsRecord('s1', 'example.org', ed);
  assert.equal(r.name, 's1._domainkey.example.org');
  assert.match(r.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
  // The Ed25519 p= is the raw 32-octet key (RFC 8463), the same key node derives.
  assert.deepEqual(Buffer.from(publicKeyValue(ed), 'base64'), Buffer.from(createPublicKey(ed).export({ format: 'jwk' }).x ?? '', 'base64url'));
  const rr = dnsRecord('s2', 'example.org', rsa);
  assert.match(rr.value, /^v=DKIM1; k=rsa; p=MI/);
  // An RSA p= is the SubjectPublicKeyInfo: node reads it back as the same key.
  const spki = createPublicKey({ key: Buffer.from(publicKeyValue(rsa), 'base64'), format: 'der', type: 'spki' });
  assert.ok(cryptoVerify('sha256', Buffer.from('x'), spki, cryptoSign('sha256', Buffer.from('x'), rsa)));
  assert.deepEqual(compareRecord(r.value, ed), { match: true });
  // Folded the way a DNS tool may show it.
  assert.deepEqual(compareRecord(r.value.replace('p=', 'p = ').replace(/(.{20})/, '$1 '), ed), { match: true });
  assert.deepEqual(compareRecord('v=DKIM1; k=ed25519; p=', ed), { match: false, reason: 'the key is revoked (empty p=)' });
  assert.deepEqual(compareRecord(rr.value, ed), { match: false, reason: 'k=rsa, but the configured key is ed25519' });
  assert.equal(compareRecord(dnsRecord('s', 'e', parsePrivateKey(generateKey('ed25519-sha256', 0), 'ed25519-sha256')).value, ed).match, false);
  assert.deepEqual(compareRecord('v=DKIM2; p=abc', ed), { match: false, reason: 'v=DKIM2, not DKIM1' });
  assert.deepEqual(compareRecord('v=DKIM1; k=ed25519', ed), { match: false, reason: 'the record has no p= tag' });
});

test('parsePrivateKey: refuses a key of the wrong type, a short RSA key and garbage', () => {
  assert.throws(() => parsePrivateKey(ED, 'rsa-sha256'), /ed25519 key, but algorithm rsa-sha256 needs an rsa key/);
  assert.throws(() => parsePrivateKey(generateKey('rsa-sha256', 512), 'rsa-sha256'), /512 bits/);
  assert.throws(() => parsePrivateKey('not a key', 'rsa-sha256'), /not a PEM private key/);
});

test('settings: absent dkim = defaults; keys read and checked; errors by path', () => {
  const base = { hostname: 'mx.example.net' };
  const v0 = validate(base);
  assert.deepEqual(v0.settings.dkim, defaultDkim());
  assert.equal(v0.settings.dkim.sign, 'relayed');
  assert.ok(v0.settings.dkim.headers.includes('from') && v0.settings.dkim.headers.includes('subject'));
  const ok = validate({ ...base, dkim: { sign: 'all', keys: [{ domain: 'example.org', selector: 's1', algorithm: 'ed25519-sha256', key: ED, signing_domain: 'esp.example' }], headers: ['From', 'Subject'] } });
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.settings.dkim.headers, ['from', 'subject']);
  assert.equal(ok.settings.dkim.keys[0]?.signing_domain, 'esp.example');
  const bad = validate({
    ...base,
    dkim: {
      sign: 'some',
      headers: ['subject'],
      keys: [
        { domain: 'not a domain', selector: 'bad selector!', key: ED, algorithm: 'ed25519-sha256' },
        { domain: 'example.org', selector: 's1' },
        { domain: 'example.org', selector: 's1', key: ED, key_file: '/x', algorithm: 'rsa-sha256' },
        { domain: 'example.org', selector: 's2', key_file: '/nonexistent/key.pem', algorithm: 'md5' },
      ],
    },
  });
  const paths = bad.errors.map((e) => e.path).sort();
  assert.deepEqual(paths, ['dkim.headers', 'dkim.keys[0].domain', 'dkim.keys[0].selector', 'dkim.keys[1]', 'dkim.keys[2]', 'dkim.keys[2].key', 'dkim.keys[2].selector', 'dkim.keys[3].algorithm', 'dkim.sign'].sort());
  assert.ok(bad.warnings.some((w) => w.path === 'dkim.keys[3].key_file'));
});

test('secrets: an inline key is left out of exports, carried over when a document comes back without it, and reported as a secret change', () => {
  const prev = { ...embeddedDefaults(), dkim: settings([k('example.org', 's1')]) };
  const red = redactSecrets(prev);
  assert.equal(red.dkim.keys[0]?.key, undefined);
  assert.equal(JSON.stringify(red).includes('PRIVATE KEY'), false);
  const back = carrySecrets(red, prev) as typeof prev;
  assert.equal(back.dkim.keys[0]?.key, ED);
  // Another selector is another key: nothing carried.
  const other = carrySecrets({ ...red, dkim: { ...red.dkim, keys: [{ ...red.dkim.keys[0], selector: 's2' }] } }, prev) as typeof prev;
  assert.equal(other.dkim.keys[0]?.key, undefined);
  const next = { ...prev, dkim: settings([k('example.org', 's1', { key: generateKey('ed25519-sha256', 0) })]) };
  assert.deepEqual(secretChanges(prev, next), ['dkim.keys["s1._domainkey.example.org"].key']);
});

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

test('signMessage: signs the message as the edit leaves it; the signature goes on top; dropOurSignatures takes it off again', async () => {
  const msg = Buffer.from('Received: from x\r\nFrom: a@example.org\r\nSubject: hi\r\nX-Spam-Flag: forged\r\n\r\nbody\r\n');
  const s = settings([k('example.org', 's1')]);
  const edit = { add: ['X-Spam-Flag: YES'], remove: ['x-spam-flag'], subjectTag: '[SPAM]' };
  const src = { size: msg.length, chunks: async function* () { yield msg.subarray(0, 7); yield msg.subarray(7); } };
  const r = await signMessage(s, true, src, edit);
  assert.equal(r.signed, true);
  if (!r.signed) return;
  assert.match(r.field, /^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=example.org;/);
  assert.match(r.field, /h=Subject: ?From;/i);
  const final = withSignature(edit, r.field);
  assert.equal(final.add[0], r.field);
  const { out, replaced } = editHeaders(msg, final, true);
  const stored = Buffer.concat([out, msg.subarray(replaced)]).toString('latin1');
  assert.match(stored, /^DKIM-Signature: [^]*\r\nX-Spam-Flag: YES\r\nReceived: from x\r\nFrom: a@example.org\r\nSubject: \[SPAM\] hi\r\n\r\nbody\r\n$/);
  const dropped = (await collect(dropOurSignatures((async function* () { yield Buffer.from(stored, 'latin1'); })(), s))).toString('latin1');
  assert.equal(dropped, stored.slice(stored.indexOf('X-Spam-Flag: YES')));
  // Another key's signature stays.
  const theirs = (await collect(dropOurSignatures((async function* () { yield Buffer.from(stored, 'latin1'); })(), settings([k('example.org', 'other')])))).toString('latin1');
  assert.equal(theirs, stored);
  // No key for the From domain; a key that cannot be read.
  assert.deepEqual(await signMessage(settings([k('example.net', 's')]), true, src, undefined), { signed: false, reason: 'no_key', domain: 'example.org' });
  const broken = await signMessage(settings([k('example.org', 's', { key: undefined, key_file: '/nonexistent/dkim.pem' })]), true, src, undefined);
  assert.equal(broken.signed, false);
  assert.equal(!broken.signed && broken.reason, 'key_error');
});
