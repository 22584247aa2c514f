// The PROXY header parser (src/smtp/proxy-header.ts), without sockets: every
// accepted form of v1 and v2, every malformed one, headers cut into every
// possible pair of chunks, and the bytes after a header left for SMTP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeV2, parseProxyHeader, isIPv6Text, V1_MAX, V2_MAX, type ParseResult } from '../../src/smtp/proxy-header.ts';
import { mulberry32 } from '../support/prng.ts';

const b = (s: string) => Buffer.from(s, 'latin1');
const v4 = (s: string) => Buffer.from(s.split('.').map(Number));
const v6 = (groups: number[]) => {
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
};
const tcp4 = (src = '10.1.2.3', dst = '127.0.0.1', sport = 5555, dport = 25) => encodeV2({ local: false, family: 4, source: v4(src), destination: v4(dst), sourcePort: sport, destinationPort: dport });
const SIG = b('\r\n\r\n\0\r\nQUIT\n');

function done(r: ParseResult): Extract<ParseResult, { status: 'done' }> {
  assert.equal(r.status, 'done', JSON.stringify(r));
  return r as Extract<ParseResult, { status: 'done' }>;
}

function bad(buf: Buffer, reason: RegExp): void {
  const r = parseProxyHeader(buf);
  assert.equal(r.status, 'invalid', `${JSON.stringify(buf.toString('latin1'))} → ${JSON.stringify(r)}`);
  assert.match((r as { reason: string }).reason, reason);
}

/** Every prefix of a complete header is 'incomplete' (never done, never invalid): the header may arrive byte by byte. */
function prefixesIncomplete(header: Buffer): void {
  for (let i = 0; i < header.length; i++) assert.deepEqual(parseProxyHeader(header.subarray(0, i)), { status: 'incomplete' }, `prefix of ${i} bytes`);
}

// ------------------------------------------------------------------- v1

test('v1 TCP4: addresses, ports and the length of the line', () => {
  const r = done(parseProxyHeader(b('PROXY TCP4 10.1.2.3 127.0.0.1 5555 25\r\n')));
  assert.deepEqual(r.header, { version: 1, local: false, family: 4, source: '10.1.2.3', sourcePort: 5555, destination: '127.0.0.1', destinationPort: 25 });
  assert.equal(r.length, 39);
});

test('v1 TCP6, with a v4-mapped address, and ports 0 and 65535', () => {
  assert.deepEqual(done(parseProxyHeader(b('PROXY TCP6 2001:db8:1::25 2001:db8::1 0 65535\r\n'))).header, { version: 1, local: false, family: 6, source: '2001:db8:1::25', sourcePort: 0, destination: '2001:db8::1', destinationPort: 65535 });
  assert.equal(done(parseProxyHeader(b('PROXY TCP6 ::ffff:10.1.2.3 ::1 5555 25\r\n'))).header.local, false);
});

test('v1 UNKNOWN (with or without the rest of the line): the proxy speaks for itself', () => {
  for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n']) {
    const r = done(parseProxyHeader(b(line)));
    assert.deepEqual(r.header, { version: 1, local: true, form: 'UNKNOWN' });
    assert.equal(r.length, line.length);
  }
});

test('v1: the bytes after the CRLF are not part of the header', () => {
  const r = done(parseProxyHeader(b('PROXY TCP4 10.1.2.3 127.0.0.1 5555 25\r\nEHLO x\r\n')));
  assert.equal(r.length, 39);
});

test('v1: every prefix is incomplete, and a header split anywhere reads the same', () => {
  const line = b('PROXY TCP6 2001:db8:1::25 2001:db8::1 5555 25\r\n');
  prefixesIncomplete(line);
  assert.equal(done(parseProxyHeader(line)).length, line.length);
});

test('v1: the longest legal line (107 bytes) is read; one byte more without CRLF is refused', () => {
  const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const line = `PROXY TCP6 ${full} ${full} 65535 65535\r\n`;
  assert.equal(line.length, 104);
  assert.ok(V1_MAX >= line.length);
  assert.equal(done(parseProxyHeader(b(line))).length, 104);
  bad(b(`PROXY UNKNOWN ${'x'.repeat(V1_MAX - 14)}`), /no CRLF within 107/);
  // 105 bytes without a CRLF: still possibly a line.
  assert.equal(parseProxyHeader(b(`PROXY UNKNOWN ${'x'.repeat(V1_MAX - 16)}`)).status, 'incomplete');
  assert.equal(done(parseProxyHeader(b(`PROXY UNKNOWN ${'x'.repeat(V1_MAX - 16)}\r\n`))).length, V1_MAX);
});

test('v1: malformed lines are refused', () => {
  const cases: [string, RegExp][] = [
    ['proxy TCP4 10.1.2.3 127.0.0.1 5555 25\r\n', /not a PROXY header/],
    ['PROXY  TCP4 10.1.2.3 127.0.0.1 5555 25\r\n', /expected PROXY/],
    ['PROXY TCP4 10.1.2.3  127.0.0.1 5555 25\r\n', /expected PROXY/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 5555\r\n', /expected PROXY/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 5555 25 x\r\n', /expected PROXY/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 5555 25 \r\n', /expected PROXY/],
    ['PROXY TCP5 10.1.2.3 127.0.0.1 5555 25\r\n', /not TCP4, TCP6 or UNKNOWN/],
    ['PROXY tcp4 10.1.2.3 127.0.0.1 5555 25\r\n', /not TCP4, TCP6 or UNKNOWN/],
    ['PROXY UDP4 10.1.2.3 127.0.0.1 5555 25\r\n', /not TCP4, TCP6 or UNKNOWN/],
    ['PROXY UNKNOWNX\r\n', /expected PROXY|not TCP4/],
    // Address family mismatch, both ways.
    ['PROXY TCP4 2001:db8::1 127.0.0.1 5555 25\r\n', /not IPv4/],
    ['PROXY TCP4 10.1.2.3 ::1 5555 25\r\n', /not IPv4/],
    ['PROXY TCP6 10.1.2.3 ::1 5555 25\r\n', /not IPv6/],
    // Addresses that are not plain addresses.
    ['PROXY TCP4 010.1.2.3 127.0.0.1 5555 25\r\n', /not IPv4/],
    ['PROXY TCP4 10.1.2 127.0.0.1 5555 25\r\n', /not IPv4/],
    ['PROXY TCP4 10.1.2.256 127.0.0.1 5555 25\r\n', /not IPv4/],
    ['PROXY TCP4 host.example 127.0.0.1 5555 25\r\n', /not IPv4/],
    ['PROXY TCP6 fe80::1%eth0 ::1 5555 25\r\n', /not IPv6/],
    ['PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 5555 25\r\n', /not IPv6/],
    ['PROXY TCP6 1::2::3 ::1 5555 25\r\n', /not IPv6/],
    ['PROXY TCP6 12345::1 ::1 5555 25\r\n', /not IPv6/],
    // Ports.
    ['PROXY TCP4 10.1.2.3 127.0.0.1 65536 25\r\n', /bad port/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 05555 25\r\n', /bad port/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 -1 25\r\n', /bad port/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 5555 2x\r\n', /bad port/],
    // Line ends and bytes.
    ['PROXY TCP4 10.1.2.3 127.0.0.1 5555 25\n', /control/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 5555 25\rX', /CR without LF/],
    ['PROXY TCP4 10.1.2.3\t127.0.0.1 5555 25\r\n', /control/],
    ['PROXY TCP4 10.1.2.3 127.0.0.1 5555 25\u00e9\r\n', /non-ASCII/],
  ];
  for (const [line, reason] of cases) bad(b(line), reason);
});

test('not a PROXY header at all: refused at the first byte that says so', () => {
  bad(b('E'), /not a PROXY header/);
  bad(b('EHLO client.example\r\n'), /not a PROXY header/);
  bad(b('PROX\r\n'), /not a PROXY header/);
  bad(b('\x16\x03\x01'), /not a PROXY header/);
  assert.equal(parseProxyHeader(b('PROX')).status, 'incomplete');
  assert.equal(parseProxyHeader(b('')).status, 'incomplete');
});

// ------------------------------------------------------------------- v2

test('v2 PROXY over TCP4', () => {
  const h = tcp4('192.0.2.60', '198.51.100.1', 40000, 25);
  assert.equal(h.length, 28);
  const r = done(parseProxyHeader(h));
  assert.deepEqual(r.header, { version: 2, local: false, family: 4, source: '192.0.2.60', sourcePort: 40000, destination: '198.51.100.1', destinationPort: 25 });
  assert.equal(r.length, 28);
});

test('v2 PROXY over TCP6: addresses in RFC 5952 text', () => {
  const h6 = (src: number[]) => encodeV2({ local: false, family: 6, source: v6(src), destination: v6([0, 0, 0, 0, 0, 0, 0, 1]), sourcePort: 1, destinationPort: 25 });
  const cases: [number[], string][] = [
    [[0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x25], '2001:db8:1::25'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0x2001, 0xdb8, 0, 1, 0, 0, 0, 1], '2001:db8:0:1::1'],
    [[0x2001, 0, 0, 1, 0, 0, 0, 1], '2001:0:0:1::1'],
    [[0x2001, 0xdb8, 1, 2, 3, 4, 5, 0], '2001:db8:1:2:3:4:5:0'],
    [[1, 0, 0, 0, 0, 0, 0, 0], '1::'],
    [[0xfe80, 0, 0, 0, 0xabcd, 0, 0, 1], 'fe80::abcd:0:0:1'],
    [[0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203], '::ffff:10.1.2.3'],
  ];
  for (const [groups, text] of cases) {
    const r = done(parseProxyHeader(h6(groups)));
    assert.equal(r.header.local === false && r.header.source, text);
    assert.equal(r.header.local === false && r.header.destination, '::1');
    assert.ok(isIPv6Text(text), text);
    assert.equal(r.length, 52);
  }
});

test('v2 LOCAL: the proxy speaks for itself, whatever block follows (discarded)', () => {
  assert.deepEqual(done(parseProxyHeader(encodeV2({ local: true }))), { status: 'done', header: { version: 2, local: true, form: 'LOCAL' }, length: 16 });
  // LOCAL with an address block and junk "TLVs": the spec says discard the block, family included.
  const block = Buffer.concat([SIG, Buffer.from([0x20, 0x31, 0, 5]), b('junk!')]);
  assert.deepEqual(done(parseProxyHeader(block)), { status: 'done', header: { version: 2, local: true, form: 'LOCAL' }, length: 21 });
});

test('v2 PROXY over AF_UNSPEC: the proxy speaks for itself', () => {
  const h = Buffer.concat([SIG, Buffer.from([0x21, 0x00, 0, 0])]);
  assert.deepEqual(done(parseProxyHeader(h)).header, { version: 2, local: true, form: 'UNSPEC' });
});

test('v2 TLVs are skipped: the header ends after them, the address is read', () => {
  const tlvs = Buffer.concat([Buffer.from([0x01, 0, 3]), b('smt'), Buffer.from([0x04, 0, 0]), Buffer.from([0x05, 0, 4, 1, 2, 3, 4])]);
  const h = encodeV2({ local: false, family: 4, source: v4('10.1.2.3'), destination: v4('127.0.0.1'), sourcePort: 1, destinationPort: 25 }, tlvs);
  const r = done(parseProxyHeader(Buffer.concat([h, b('EHLO x\r\n')])));
  assert.equal(r.length, h.length);
  assert.equal(r.header.local === false && r.header.source, '10.1.2.3');
});

test('v2: every prefix is incomplete; the bytes after the header are SMTP', () => {
  for (const h of [tcp4(), encodeV2({ local: true }), encodeV2({ local: false, family: 6, source: v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]), destination: v6([0, 0, 0, 0, 0, 0, 0, 1]), sourcePort: 9, destinationPort: 25 }, Buffer.from([0x04, 0, 2, 0, 0]))]) {
    prefixesIncomplete(h);
    const r = done(parseProxyHeader(Buffer.concat([h, b('QUIT\r\n')])));
    assert.equal(r.length, h.length);
  }
});

test('v2: a bad signature is refused at the first wrong byte', () => {
  const good = tcp4();
  for (let i = 0; i < 12; i++) {
    const h = Buffer.from(good);
    h[i] = h[i]! ^ 0x40;
    const r = parseProxyHeader(h);
    assert.equal(r.status, 'invalid', `byte ${i}`);
    // Decided from the bytes up to the wrong one, without waiting for more.
    if (i > 0) assert.equal(parseProxyHeader(h.subarray(0, i + 1)).status, 'invalid', `byte ${i}, early`);
  }
});

test('v2: wrong version, unknown command', () => {
  for (const verCmd of [0x11, 0x31, 0xf1, 0x01]) bad(Buffer.concat([SIG, Buffer.from([verCmd, 0x11, 0, 12]), Buffer.alloc(12)]), /version/);
  for (const verCmd of [0x22, 0x2f]) bad(Buffer.concat([SIG, Buffer.from([verCmd, 0x11, 0, 12]), Buffer.alloc(12)]), /command/);
});

test('v2: an oversize length is refused from the fixed 16 bytes, before the rest is awaited', () => {
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]), /exceeds 4096/);
  const over = V2_MAX - 16 + 1;
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x11, over >> 8, over & 255])]), /exceeds/);
  // At the bound: accepted once it has all arrived (one NOOP TLV fills it).
  const fill = V2_MAX - 16 - 12 - 3;
  const tlv = Buffer.concat([Buffer.from([0x04, fill >> 8, fill & 255]), Buffer.alloc(fill)]);
  const h = encodeV2({ local: false, family: 4, source: v4('10.1.2.3'), destination: v4('127.0.0.1'), sourcePort: 1, destinationPort: 25 }, tlv);
  assert.equal(h.length, V2_MAX);
  assert.equal(parseProxyHeader(h.subarray(0, 100)).status, 'incomplete');
  assert.equal(done(parseProxyHeader(h)).length, V2_MAX);
});

test('v2: UNIX and UDP are refused; so are unknown families and transports', () => {
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x31, 0, 216]), Buffer.alloc(216)]), /AF_UNIX/);
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x32, 0, 216]), Buffer.alloc(216)]), /AF_UNIX/);
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x12, 0, 12]), Buffer.alloc(12)]), /not STREAM/);
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x22, 0, 36]), Buffer.alloc(36)]), /not STREAM/);
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x10, 0, 12]), Buffer.alloc(12)]), /not STREAM/);
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x41, 0, 12]), Buffer.alloc(12)]), /address family 4/);
});

test('v2: a length too short for the family\'s addresses (family mismatch) is refused', () => {
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 8]), Buffer.alloc(8)]), /cannot hold the IPv4/);
  // IPv4-sized block announced as AF_INET6.
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x21, 0, 12]), Buffer.alloc(12)]), /cannot hold the IPv6/);
  bad(Buffer.concat([SIG, Buffer.from([0x21, 0x21, 0, 0])]), /cannot hold the IPv6/);
});

test('v2: TLVs that do not frame exactly to the end are refused', () => {
  const base = (tlvs: Buffer) => encodeV2({ local: false, family: 4, source: v4('10.1.2.3'), destination: v4('127.0.0.1'), sourcePort: 1, destinationPort: 25 }, tlvs);
  bad(base(Buffer.from([0x01, 0])), /truncated TLV/);
  bad(base(Buffer.from([0x01, 0, 9, 1, 2])), /runs past/);
  bad(base(Buffer.from([0x04, 0, 0, 0x01])), /truncated TLV/);
});

test('v2 truncated: a connection that stops mid-header never yields a header', () => {
  const h = tcp4();
  for (let i = 0; i < h.length; i++) assert.equal(parseProxyHeader(h.subarray(0, i)).status, 'incomplete');
});

test('random bytes: never a throw, a length within what was given, an address only when valid', () => {
  const rnd = mulberry32(15);
  for (let n = 0; n < 20_000; n++) {
    const len = Math.floor(rnd() * 80);
    const start = rnd() < 0.5 ? SIG : rnd() < 0.5 ? b('PROXY TCP') : Buffer.alloc(0);
    const tail = Buffer.from(Array.from({ length: len }, () => (rnd() < 0.5 ? Math.floor(rnd() * 256) : b(' .:0123456789abcdef\r\nTCP46')[Math.floor(rnd() * 27)]!)));
    const buf = Buffer.concat([start, tail]);
    const r = parseProxyHeader(buf);
    assert.ok(['incomplete', 'invalid', 'done'].includes(r.status));
    if (r.status === 'done') {
      assert.ok(r.length <= buf.length && r.length > 0);
      if (!r.header.local) assert.ok(r.header.family === 4 ? /^\d+\.\d+\.\d+\.\d+$/.test(r.header.source) : isIPv6Text(r.header.source), r.header.source);
    }
  }
});
