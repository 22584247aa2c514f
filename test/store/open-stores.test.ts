// Choosing the store (src/store/open-stores.ts): the flag wins over
// MAILWARDEN_STORE, an empty value means the embedded store, only
// postgresql:// and postgres:// URLs are taken, and a password is taken out
// of every text shown (plain and percent-encoded).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStores, redactIn, StoreError, storeUrlFrom, storeUrlProblem } from '../../src/store/open-stores.ts';
import { redactUrl } from '../../src/store/pg/errors.ts';

const quiet = { log: () => {} };

test('the --store flag wins over MAILWARDEN_STORE; an empty value is no URL', () => {
  assert.equal(storeUrlFrom('postgresql://a/x', { MAILWARDEN_STORE: 'postgresql://b/y' }), 'postgresql://a/x');
  assert.equal(storeUrlFrom(undefined, { MAILWARDEN_STORE: 'postgresql://b/y' }), 'postgresql://b/y');
  assert.equal(storeUrlFrom('', { MAILWARDEN_STORE: 'postgresql://b/y' }), 'postgresql://b/y');
  assert.equal(storeUrlFrom(undefined, { MAILWARDEN_STORE: '' }), undefined);
  assert.equal(storeUrlFrom(undefined, {}), undefined);
});

test('only PostgreSQL URLs are taken; the refusal names the accepted forms and hides the password', () => {
  for (const ok of ['postgresql://u:p@h:5432/db', 'postgres://h/db', 'postgresql://h1:5432,h2:5432/db?target_session_attrs=primary', 'postgresql:///db?host=/run/postgresql']) {
    assert.equal(storeUrlProblem(ok), null, ok);
  }
  // read-write lets the client library settle on a hot standby (docs/cluster.md): refused, naming what works.
  const rw = storeUrlProblem('postgresql://u:pw-XYZ@h1:5432,h2:5432/db?sslmode=disable&target_session_attrs=read-write');
  assert.ok(rw && /target_session_attrs=primary/.test(rw) && !/pw-XYZ/.test(rw), String(rw));
  for (const bad of ['mysql://u:pw-XYZ@h/db', 'sqlite:///tmp/x.db', '/var/lib/mailwarden', 'postgresql:/h/db', 'POSTGRESQL://h/db x']) {
    const p = storeUrlProblem(bad);
    assert.ok(p, bad);
    assert.match(p, /postgresql:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/);
    assert.doesNotMatch(p, /pw-XYZ/);
  }
});

test('redactIn takes the password out of a text, plain and percent-encoded', () => {
  const url = 'postgresql://mw:p%40ss-1@db.example:5432/mail';
  assert.equal(redactIn(`connect to ${url} failed`, url), 'connect to postgresql://mw:***@db.example:5432/mail failed');
  assert.equal(redactIn('password p@ss-1 refused', url), 'password *** refused');
  assert.equal(redactIn('nothing here', 'postgresql://h/db'), 'nothing here');
});

test('without a URL the embedded bundle opens in the data directory; a bad URL is a StoreError and opens nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mailwarden-open-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stores = await openStores({ dataDir: dir, node: 'n', logger: quiet });
  assert.equal(stores.kind, 'embedded');
  await stores.config.activeNumber();
  await stores.close();
  assert.ok(existsSync(join(dir, 'mailwarden.db')));
  const other = join(dir, 'other');
  await assert.rejects(openStores({ dataDir: other, url: 'redis://h/0', node: 'n', logger: quiet }), (err) => err instanceof StoreError && /redis:\/\/h\/0 is not one mailwarden can use/.test(err.message));
  assert.equal(existsSync(other), false);
});

test('a password with an unencoded @, or given as a query parameter, never shows (found by probing)', () => {
  const at = 'postgresql://mw:S3cr@et@127.0.0.1:5433/mw';
  assert.equal(redactUrl(at), 'postgresql://mw:***@127.0.0.1:5433/mw');
  assert.doesNotMatch(redactIn(`cannot open the cluster store ${at}: refused`, at), /S3cr|et@127/);
  // libpq's ?password= is not taken by the client library: refused clearly, and never printed.
  const query = 'postgresql:///mw?host=/tmp/pg&user=mw&password=S3cretPW';
  assert.equal(redactUrl(query), 'postgresql:///mw?host=/tmp/pg&user=mw&password=***');
  const p = storeUrlProblem(query);
  assert.ok(p);
  assert.match(p, /query parameter.*PGPASSWORD/);
  assert.doesNotMatch(p, /S3cretPW/);
  assert.doesNotMatch(redactIn(`password authentication failed (S3cretPW) for ${query}`, query), /S3cretPW/);
  assert.equal(redactUrl('postgresql://h1:5432,h2:5432/db?target_session_attrs=read-write'), 'postgresql://h1:5432,h2:5432/db?target_session_attrs=read-write', 'nothing to hide: unchanged');
});
