// The cluster store's body path against a real PostgreSQL: a chunk goes as text
// (convert_to) when it is 7-bit without NUL and as hex otherwise
// (src/store/pg/body-param.ts), and either way the database holds exactly the
// bytes given — a backslash, a leading "\x", 8-bit octets, a NUL, invalid
// UTF-8 — and a message whose chunks take different paths reads back whole.
// A message that fits in the head and a tail commits in one statement: all of
// it or nothing. body() brings the first chunk with the row; a missing one is
// an error, never a short message.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { postgresMissing, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { connectPg, type Sql } from '../../src/store/pg/connect.ts';
import { migrate } from '../../src/store/pg/schema.ts';
import { bodyParam, textSafe } from '../../src/store/pg/body-param.ts';
import { CHUNK, HEAD_MAX, PgQueueStore } from '../../src/store/pg/queue-store.ts';
import { newQueueId } from '../../src/queue/queue-id.ts';
import { fields } from './contract/queue-store.ts';

const missing = postgresMissing();
let server: TestPostgres | null = null;
let sql: Sql | null = null;

before(async () => {
  if (missing) return;
  server = await startPostgres();
  sql = connectPg(await server.createDatabase(), { connectTimeout: 3, queryTimeout: 20 });
  await migrate(sql);
});
after(async () => {
  await sql?.end({ timeout: 1 });
  await server?.destroy();
});

const SAMPLES: Record<string, Buffer> = {
  empty: Buffer.alloc(0),
  ascii: Buffer.from('Subject: hi\r\n\r\nplain 7-bit text\r\n'),
  backslashes: Buffer.from('a\\b\\\\c \\000 \\x41 \\\r\n'),
  'hex-looking': Buffer.from('\\x4142'),
  'escape-looking': Buffer.from("\\101\\\\'quote' E'\\n'"),
  nul: Buffer.from('before\0after'),
  '8-bit latin-1': Buffer.from('caf\xe9\r\n', 'latin1'),
  utf8: Buffer.from('Grüße, 日本\r\n'),
  'invalid utf-8': Buffer.from([0x41, 0xc3, 0x28, 0xff, 0xfe, 0x42]),
  'all octets': Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
};

describe('textSafe', () => {
  test('7-bit without NUL goes as text; 8-bit, UTF-8 and NUL do not', () => {
    assert.equal(textSafe(SAMPLES.ascii!), true);
    assert.equal(textSafe(SAMPLES.backslashes!), true);
    assert.equal(textSafe(SAMPLES.empty!), true);
    assert.equal(textSafe(SAMPLES.nul!), false);
    assert.equal(textSafe(SAMPLES['8-bit latin-1']!), false);
    assert.equal(textSafe(SAMPLES.utf8!), false);
    assert.equal(textSafe(SAMPLES['invalid utf-8']!), false);
  });
});

const suite = missing ? (name: string, fn: () => void) => describe(name, { skip: missing }, fn) : describe;

suite('bytea parameters on a real server', () => {
  for (const [name, data] of Object.entries(SAMPLES)) {
    test(`${name}: the database gets exactly these octets`, async () => {
      assert.ok(sql);
      const [r] = await sql<{ b: Buffer; n: number }[]>`SELECT ${bodyParam(sql, data)} AS b, octet_length(${bodyParam(sql, data)}) AS n`;
      assert.ok(r);
      assert.equal(r.n, data.length);
      assert.deepEqual(Buffer.from(r.b), data);
    });
  }

  test('a message whose chunks go as text and as hex is stored and read back byte for byte', async () => {
    assert.ok(sql);
    const store = new PgQueueStore(sql);
    await store.open();
    try {
      // Head (7-bit), then a flushed chunk with 8-bit octets, a 7-bit one with backslashes, and a tail with a NUL.
      const ascii = (n: number) => Buffer.from(randomBytes(Math.ceil(n * 0.75)).toString('base64').slice(0, n));
      // One write per chunk, so that each chunk is one kind.
      const pieces = [
        Buffer.concat([Buffer.from('Subject: mixed\r\n\r\n'), ascii(HEAD_MAX - 18)]),
        randomBytes(CHUNK),
        Buffer.concat([ascii(CHUNK - 4), Buffer.from('\\x\\\\')]),
        Buffer.from('tail\0end\r\n'),
      ];
      const body = Buffer.concat(pieces);
      const w = store.begin(newQueueId());
      for (const p of pieces) await w.write(p);
      const env = (await w.commit(fields())).envelope;
      const stored = await store.body(env.id);
      assert.ok(stored);
      assert.equal(stored.size, body.length);
      assert.deepEqual(await stored.whole(), body);
      const parts: Buffer[] = [];
      for await (const c of stored.stream()) parts.push(Buffer.from(c as Buffer));
      assert.deepEqual(Buffer.concat(parts), body);
      // What is in the table, read without the store's code: the chunks in order are the message.
      const rows = await sql<{ data: Buffer }[]>`SELECT c.data FROM queue_chunk c JOIN queue_message m ON m.writer = c.writer WHERE m.id = ${env.id} ORDER BY c.seq`;
      assert.equal(rows.length, 4);
      assert.deepEqual(Buffer.concat(rows.map((x) => Buffer.from(x.data))), body);
    } finally {
      await store.close();
    }
  });

  test('a 7-bit message with a header edit commits the edited head as text and reads back', async () => {
    assert.ok(sql);
    const store = new PgQueueStore(sql);
    await store.open();
    try {
      const w = store.begin(newQueueId());
      await w.write(Buffer.from('Subject: x\r\nX-Old: 1\r\n\r\nC:\\path\\file\r\n'));
      const c = await w.commit(fields(), { edit: { remove: ['X-Old'], add: ['X-Spam: no'], subjectTag: null } });
      const stored = await store.body(c.envelope.id);
      const whole = (await stored!.whole()).toString('latin1');
      assert.match(whole, /^X-Spam: no\r\nSubject: x\r\n/);
      assert.doesNotMatch(whole, /X-Old/);
      assert.match(whole, /C:\\path\\file\r\n$/);
      assert.equal(whole.length, c.envelope.size);
    } finally {
      await store.close();
    }
  });

  test('a message of the head and a tail (nothing flushed) commits in one statement and reads back; a failed commit leaves no chunk', async () => {
    assert.ok(sql);
    const store = new PgQueueStore(sql);
    await store.open();
    try {
      const body = Buffer.concat([Buffer.from('Subject: two\r\n\r\n'), Buffer.alloc(HEAD_MAX, 'a'), Buffer.from('caf\xe9 tail\r\n', 'latin1')]);
      const id = newQueueId();
      const w = store.begin(id);
      await w.write(body);
      await w.commit(fields());
      const stored = await store.body(id);
      assert.deepEqual(await stored!.whole(), body);
      const parts: Buffer[] = [];
      for await (const c of stored!.stream()) parts.push(Buffer.from(c as Buffer));
      assert.deepEqual(Buffer.concat(parts), body);
      const [n] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_chunk c JOIN queue_message m ON m.writer = c.writer WHERE m.id = ${id}`;
      assert.equal(n?.n, 2);

      // The same id again: the row's insert fails, and with it the chunks of the same statement.
      const before = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_chunk`;
      const again = store.begin(id);
      await again.write(Buffer.from('Subject: dup\r\n\r\nx\r\n'));
      await assert.rejects(again.commit(fields()), /duplicate key/);
      const after = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM queue_chunk`;
      assert.equal(after[0]?.n, before[0]?.n);
    } finally {
      await store.close();
    }
  });

  test('body(): the first chunk missing is an error for whole() and stream(), never a short message', async () => {
    assert.ok(sql);
    const store = new PgQueueStore(sql);
    await store.open();
    try {
      const id = newQueueId();
      const w = store.begin(id);
      await w.write(Buffer.from('Subject: gone\r\n\r\nbody\r\n'));
      await w.commit(fields());
      await sql`DELETE FROM queue_chunk WHERE seq = 0 AND writer = (SELECT writer FROM queue_message WHERE id = ${id})`;
      const stored = await store.body(id);
      assert.ok(stored);
      await assert.rejects(stored.whole(), /body has 0 octets/);
      await assert.rejects(async () => {
        for await (const _ of stored.stream());
      }, /chunk 0 missing/);
    } finally {
      await store.close();
    }
  });
});
