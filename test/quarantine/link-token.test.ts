// The digest's signed links (src/quarantine/link-token.ts): a token signed
// with the store's secret verifies with its claims; a forged one (another
// secret, a flipped bit anywhere, a made-up string), an expired one, one for
// another action or another message is refused, each with its reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { LinkSigner, MAX_TOKEN_CHARS, deriveKey, type LinkClaims } from '../../src/quarantine/link-token.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';

const secret = randomBytes(32);
const signer = new LinkSigner(secret);
const now = Date.parse('2026-12-05T08:00:00Z');
const claims = (over: Partial<LinkClaims> = {}): LinkClaims => ({ action: 'release', id: newQueueId(now), address: 'alice@example.com', exp: now + 7 * 86_400_000, ...over });

test('a signed token verifies and gives its claims back', () => {
  const c = claims({ address: 'Alice@Example.COM' });
  const t = signer.sign(c);
  assert.match(t, /^[A-Za-z0-9_-]+$/, 'URL-safe');
  assert.ok(t.length < 120, `compact (${t.length} characters)`);
  const r = signer.verify(t, now, { action: 'release', id: c.id });
  assert.ok(r.ok);
  assert.deepEqual(r.claims, { action: 'release', id: c.id, address: 'alice@example.com', exp: c.exp });
  // Another signer with the same secret (another node of the cluster) agrees.
  assert.ok(new LinkSigner(Buffer.from(secret)).verify(t, now).ok);
});

test('a token signed with another secret is forged', () => {
  const t = new LinkSigner(randomBytes(32)).sign(claims());
  assert.deepEqual(signer.verify(t, now), { ok: false, why: 'forged' });
});

test('any altered octet makes the token forged or malformed, never valid', () => {
  const t = signer.sign(claims());
  const raw = Buffer.from(t, 'base64url');
  for (let i = 0; i < raw.length; i++) {
    const bad = Buffer.from(raw);
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    const r = signer.verify(bad.toString('base64url'), now);
    assert.equal(r.ok, false, `octet ${i} altered`);
    assert.equal(r.ok ? '' : r.why, 'forged', `octet ${i}`);
  }
  // Another message id, address or expiry spliced into a genuine token: the MAC no longer matches.
  const other = signer.sign(claims({ address: 'mallory@example.com' }));
  const spliced = Buffer.concat([Buffer.from(other, 'base64url').subarray(0, -32), raw.subarray(-32)]).toString('base64url');
  assert.deepEqual(signer.verify(spliced, now), { ok: false, why: 'forged' });
  assert.deepEqual(signer.verify(t.slice(0, -2), now), { ok: false, why: 'forged' });
});

test('garbage is malformed, never a crash', () => {
  for (const t of ['', 'abc', '!!!!', 'a'.repeat(MAX_TOKEN_CHARS + 1), undefined, 42, null, ['x'], 'A'.repeat(80)]) {
    const r = signer.verify(t, now);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && (r.why === 'malformed' || r.why === 'forged'), String(t));
  }
});

test('an expired token is refused; one a second before expiry is not', () => {
  const c = claims({ exp: now + 60_000 });
  const t = signer.sign(c);
  assert.ok(signer.verify(t, now + 59_000).ok);
  assert.deepEqual(signer.verify(t, now + 60_000), { ok: false, why: 'expired' });
  assert.deepEqual(signer.verify(t, now + 86_400_000), { ok: false, why: 'expired' });
});

test('a token for another action or another message is refused', () => {
  const c = claims({ action: 'delete' });
  const t = signer.sign(c);
  assert.deepEqual(signer.verify(t, now, { action: 'release' }), { ok: false, why: 'wrong action' });
  assert.ok(signer.verify(t, now, { action: ['release', 'delete'] }).ok);
  assert.deepEqual(signer.verify(t, now, { id: newQueueId(now + 1) }), { ok: false, why: 'wrong message' });
  const v = signer.sign(claims({ action: 'view' }));
  assert.deepEqual(signer.verify(v, now, { action: 'delete' }), { ok: false, why: 'wrong action' });
});

test('bad claims are not signed; keys are separated by purpose', () => {
  assert.throws(() => signer.sign(claims({ id: '../etc/passwd' })));
  assert.throws(() => signer.sign(claims({ address: 'x'.repeat(255) })));
  assert.throws(() => signer.sign(claims({ action: 'admin' as never })));
  assert.throws(() => new LinkSigner(Buffer.alloc(4)));
  assert.notDeepEqual(deriveKey(secret, 'quarantine link'), deriveKey(secret, 'portal cookie'));
});
