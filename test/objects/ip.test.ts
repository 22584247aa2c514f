// Strict address parsing and the range arithmetic the relay guard relies on.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALL_ADDRESSES,
  coveredCount,
  formatIp,
  formatRange,
  IPV4_SPACE,
  IPV6_GLOBAL,
  isV4,
  mergeRanges,
  parseCidr,
  parseIp,
  publicCount,
  rangeContains,
  rangeSize,
  rangesOverlap,
  type IpRange,
} from '../../src/objects/ip.ts';

function ip(text: string): bigint {
  const p = parseIp(text);
  assert.ok(p.ok, `expected ${JSON.stringify(text)} to parse`);
  return p.value;
}

function cidr(text: string): IpRange {
  const p = parseCidr(text);
  assert.ok(p.ok, `expected ${JSON.stringify(text)} to parse: ${p.ok ? '' : p.reason}`);
  return p.range;
}

function range(from: string, to: string): IpRange {
  return { from: ip(from), to: ip(to) };
}

describe('parseIp: IPv4', () => {
  it('reads a dotted quad as its IPv4-mapped value, family 4', () => {
    const p = parseIp('10.1.2.3');
    assert.deepEqual(p, { ok: true, value: 0xffff_0a01_0203n, family: 4 });
  });

  it('reads the lowest and highest IPv4 addresses', () => {
    assert.equal(ip('0.0.0.0'), IPV4_SPACE.from);
    assert.equal(ip('255.255.255.255'), IPV4_SPACE.to);
    assert.equal(ip('0.0.0.0'), 0xffff_0000_0000n);
  });

  it('keeps each octet in its place', () => {
    assert.equal(ip('1.2.3.4') - ip('0.0.0.0'), 0x01020304n);
    assert.equal(ip('192.168.0.1') - ip('0.0.0.0'), 0xc0a80001n);
  });

  for (const legacy of ['010.1.2.3', '10.1', '0x0a.0.0.1', '1.2.3', '10.1.2.03', '0.0.0.00', '167838211', '012.0.0.1']) {
    it(`refuses the legacy spelling ${JSON.stringify(legacy)} and says how to write it`, () => {
      const p = parseIp(legacy);
      assert.equal(p.ok, false);
      assert.ok(!p.ok && /dotted-quad|leading zeros/.test(p.reason), `reason: ${!p.ok ? p.reason : ''}`);
    });
  }

  for (const bad of ['', '1.2.3.4.5', '256.1.1.1', '1.2.3.256', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4\n', '1.2.3.4/32', 'a.b.c.d', '\uff11.2.3.4', '1..2.3', '.1.2.3', '1.2.3.']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.equal(parseIp(bad).ok, false);
    });
  }

  it('refuses an absurdly long string without scanning it as an address', () => {
    assert.equal(parseIp('1.'.repeat(40) + '1').ok, false);
  });
});

describe('parseIp: IPv6', () => {
  it('reads the unspecified and loopback addresses', () => {
    assert.deepEqual(parseIp('::'), { ok: true, value: 0n, family: 6 });
    assert.deepEqual(parseIp('::1'), { ok: true, value: 1n, family: 6 });
  });

  it('reads a compressed address to the right 128-bit value', () => {
    assert.equal(ip('2001:db8::1'), 0x2001_0db8_0000_0000_0000_0000_0000_0001n);
    assert.equal(ip('1:2:3:4:5:6:7:8'), 0x0001_0002_0003_0004_0005_0006_0007_0008n);
    assert.equal(ip('fe80::'), 0xfe80n << 112n);
    assert.equal(ip('1::8'), (1n << 112n) | 8n);
  });

  it('is case-insensitive and ignores leading zeros within groups', () => {
    assert.equal(ip('2001:DB8::A'), ip('2001:db8::a'));
    assert.equal(ip('2001:0db8:0000:0000:0000:0000:0000:0001'), ip('2001:db8::1'));
  });

  it('accepts a dotted quad as the last 32 bits', () => {
    assert.equal(ip('1:2:3:4:5:6:1.2.3.4'), 0x0001_0002_0003_0004_0005_0006_0102_0304n);
    assert.equal(ip('64:ff9b::1.2.3.4'), ip('64:ff9b::102:304'));
  });

  for (const bad of ['1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3', ':::1', '12345::', 'g::1', '::ffff:010.1.2.3', '::ffff:1.2.3', '::ffff:256.1.2.3', '1:2:3:4:5:6:7:1.2.3.4', '[::1]', '::1/128', ':1', '1:']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.equal(parseIp(bad).ok, false);
    });
  }

  for (const zoned of ['fe80::1%eth0', 'fe80::1%1', '::1%lo']) {
    it(`refuses the zone id in ${JSON.stringify(zoned)}`, () => {
      assert.equal(parseIp(zoned).ok, false);
    });
  }
});

describe('parseIp: IPv4-mapped IPv6', () => {
  const plain = 0xffff_0a01_0203n;
  for (const mapped of ['::ffff:10.1.2.3', '::FFFF:10.1.2.3', '::ffff:a01:203', '::ffff:0a01:0203', '0:0:0:0:0:ffff:10.1.2.3', '0:0:0:0:0:ffff:a01:203']) {
    it(`${JSON.stringify(mapped)} is the same address as 10.1.2.3, family 4`, () => {
      assert.deepEqual(parseIp(mapped), { ok: true, value: plain, family: 4 });
      assert.equal(ip(mapped), ip('10.1.2.3'));
    });
  }

  it('::ffff:0:10.1.2.3 (IPv4-translated) and ::10.1.2.3 (IPv4-compatible) are not the IPv4 address', () => {
    for (const other of ['::ffff:0:10.1.2.3', '::10.1.2.3']) {
      const p = parseIp(other);
      assert.ok(p.ok);
      assert.equal(p.family, 6);
      assert.notEqual(p.value, plain);
    }
  });

  it('isV4 holds exactly for the mapped block', () => {
    assert.equal(isV4(ip('10.1.2.3')), true);
    assert.equal(isV4(ip('::ffff:0.0.0.0')), true);
    assert.equal(isV4(ip('::ffff:255.255.255.255')), true);
    assert.equal(isV4(ip('::fffe:ffff:ffff')), false);
    assert.equal(isV4(ip('::1:0:0:0')), false);
    assert.equal(isV4(ip('2001:db8::1')), false);
  });
});

describe('parseCidr', () => {
  it('reads an IPv4 network', () => {
    const p = parseCidr('10.0.0.0/8');
    assert.ok(p.ok);
    assert.equal(p.family, 4);
    assert.equal(p.prefix, 8);
    assert.deepEqual(p.range, range('10.0.0.0', '10.255.255.255'));
  });

  it('reads /32 and /0 for IPv4', () => {
    assert.deepEqual(cidr('1.2.3.4/32'), range('1.2.3.4', '1.2.3.4'));
    assert.deepEqual(cidr('0.0.0.0/0'), IPV4_SPACE);
    assert.deepEqual(cidr('0.0.0.0/1'), range('0.0.0.0', '127.255.255.255'));
    assert.deepEqual(cidr('128.0.0.0/1'), range('128.0.0.0', '255.255.255.255'));
  });

  it('reads IPv6 networks, /128 and /0', () => {
    const p = parseCidr('2001:db8::/32');
    assert.ok(p.ok);
    assert.equal(p.family, 6);
    assert.equal(p.prefix, 32);
    assert.deepEqual(p.range, range('2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'));
    assert.deepEqual(cidr('::1/128'), range('::1', '::1'));
    assert.deepEqual(cidr('::/0'), ALL_ADDRESSES);
  });

  it('reads an IPv4-mapped network with a 128-bit prefix as the IPv4 network', () => {
    assert.deepEqual(cidr('::ffff:10.0.0.0/104'), cidr('10.0.0.0/8'));
    assert.deepEqual(cidr('::ffff:0.0.0.0/96'), cidr('0.0.0.0/0'));
    const p = parseCidr('::ffff:10.0.0.0/104');
    assert.ok(p.ok && p.family === 4);
  });

  it('refuses host bits and suggests the network', () => {
    const p = parseCidr('10.0.0.1/8');
    assert.equal(p.ok, false);
    assert.ok(!p.ok && p.reason.includes('host bits'));
    assert.ok(!p.ok && p.reason.includes('10.0.0.0/8'), !p.ok ? p.reason : '');
    const q = parseCidr('192.168.1.1/24');
    assert.ok(!q.ok && q.reason.includes('192.168.1.0/24'));
    const r = parseCidr('2001:db8::1/32');
    assert.ok(!r.ok && r.reason.includes('2001:db8::/32'), !r.ok ? r.reason : '');
  });

  it('a mapped address takes a 128-bit prefix, so ::ffff:10.0.0.0/8 has host bits set', () => {
    assert.equal(parseCidr('::ffff:10.0.0.0/8').ok, false);
  });

  for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0.0/1a', '10.0.0.0/ 8', '::/129', '010.0.0.0/8', '10.0/16', '10.0.0.0/8/8', '/8']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.equal(parseCidr(bad).ok, false);
    });
  }

  it('the prefix limit depends on how the address is written', () => {
    assert.equal(parseCidr('1.2.3.4/33').ok, false);
    assert.equal(parseCidr('::ffff:1.2.3.4/128').ok, true);
  });
});

describe('formatIp', () => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    // RFC 5952 4.2.2: a single zero group is not shortened.
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    // RFC 5952 4.2.3: the longest run is shortened; the first one on a tie.
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    // RFC 5952 4.3: lower case.
    ['2001:DB8::A', '2001:db8::a'],
    ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
    ['0:1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:a01:203', '10.1.2.3'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
  ];
  for (const [input, want] of cases) {
    it(`${input} → ${want}`, () => {
      assert.equal(formatIp(ip(input)), want);
    });
  }

  it('round-trips: parse(format(x)) = x', () => {
    for (const text of ['10.1.2.3', '0.0.0.0', '2001:db8::1', '::', '::1', 'fe80::1:2', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4', '2001:db8:0:0:1:0:0:1', '::ffff:0:0', '1:0:0:0:0:0:0:0']) {
      const v = ip(text);
      assert.equal(ip(formatIp(v)), v, text);
    }
  });

  it('formatRange shows one address or a from-to pair', () => {
    assert.equal(formatRange(range('10.0.0.1', '10.0.0.1')), '10.0.0.1');
    assert.equal(formatRange(cidr('10.0.0.0/8')), '10.0.0.0-10.255.255.255');
    assert.equal(formatRange(cidr('2001:db8::/32')), '2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff');
  });
});

describe('mergeRanges', () => {
  it('returns nothing for nothing', () => {
    assert.deepEqual(mergeRanges([]), []);
  });

  it('sorts and merges overlapping ranges', () => {
    const got = mergeRanges([cidr('10.1.0.0/16'), cidr('1.0.0.0/8'), cidr('10.0.0.0/8'), range('10.255.0.0', '12.0.0.0')]);
    assert.deepEqual(got, [cidr('1.0.0.0/8'), range('10.0.0.0', '12.0.0.0')]);
  });

  it('merges ranges that touch', () => {
    assert.deepEqual(mergeRanges([cidr('11.0.0.0/8'), cidr('10.0.0.0/8')]), [range('10.0.0.0', '11.255.255.255')]);
    assert.deepEqual(mergeRanges([cidr('0.0.0.0/1'), cidr('128.0.0.0/1')]), [IPV4_SPACE]);
  });

  it('keeps ranges apart when one address lies between them', () => {
    const a = range('10.0.0.0', '10.0.0.9');
    const b = range('10.0.0.11', '10.0.0.20');
    assert.deepEqual(mergeRanges([b, a]), [a, b]);
  });

  it('does not modify its input', () => {
    const a = { from: 5n, to: 10n };
    const b = { from: 1n, to: 7n };
    const input = [a, b];
    const out = mergeRanges(input);
    assert.deepEqual(out, [{ from: 1n, to: 10n }]);
    assert.deepEqual(input, [{ from: 5n, to: 10n }, { from: 1n, to: 7n }]);
    assert.deepEqual(a, { from: 5n, to: 10n });
    assert.deepEqual(b, { from: 1n, to: 7n });
  });

  it('keeps a contained range inside the larger one', () => {
    assert.deepEqual(mergeRanges([cidr('10.0.0.0/8'), cidr('10.9.9.0/24')]), [cidr('10.0.0.0/8')]);
  });
});

describe('coveredCount, rangeSize, rangesOverlap, rangeContains', () => {
  it('counts overlapping ranges once', () => {
    assert.equal(coveredCount([cidr('10.0.0.0/8'), cidr('10.0.0.0/16')], IPV4_SPACE), 1n << 24n);
    assert.equal(coveredCount([cidr('10.0.0.0/8'), cidr('11.0.0.0/8')], IPV4_SPACE), 2n << 24n);
  });

  it('counts only the part inside `within`', () => {
    assert.equal(coveredCount([cidr('::/0')], IPV4_SPACE), 1n << 32n);
    assert.equal(coveredCount([cidr('10.0.0.0/8')], cidr('10.0.0.0/16')), 1n << 16n);
    assert.equal(coveredCount([cidr('10.0.0.0/8')], cidr('2001:db8::/32')), 0n);
    assert.equal(coveredCount([range('10.0.0.250', '10.0.1.5')], cidr('10.0.1.0/24')), 6n);
  });

  it('rangeSize counts both ends', () => {
    assert.equal(rangeSize(range('10.0.0.1', '10.0.0.1')), 1n);
    assert.equal(rangeSize(IPV4_SPACE), 1n << 32n);
    assert.equal(rangeSize(ALL_ADDRESSES), 1n << 128n);
  });

  it('rangesOverlap includes shared end points only', () => {
    assert.equal(rangesOverlap(range('10.0.0.0', '10.0.0.10'), range('10.0.0.10', '10.0.0.20')), true);
    assert.equal(rangesOverlap(range('10.0.0.0', '10.0.0.9'), range('10.0.0.10', '10.0.0.20')), false);
    assert.equal(rangesOverlap(cidr('10.0.0.0/8'), range('10.1.1.1', '10.1.1.1')), true);
  });

  it('rangeContains is inclusive', () => {
    const r = cidr('10.0.0.0/24');
    assert.equal(rangeContains(r, ip('10.0.0.0')), true);
    assert.equal(rangeContains(r, ip('10.0.0.255')), true);
    assert.equal(rangeContains(r, ip('10.0.1.0')), false);
    assert.equal(rangeContains(r, ip('9.255.255.255')), false);
  });
});

describe('IPV6_GLOBAL and publicCount', () => {
  it('IPV6_GLOBAL is 2000::/3', () => {
    assert.deepEqual(IPV6_GLOBAL, cidr('2000::/3'));
    assert.equal(formatRange(IPV6_GLOBAL), '2000::-3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  });

  it('private, loopback, link-local, documentation and multicast IPv4 space is not public', () => {
    for (const c of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10', '192.0.2.0/24', '224.0.0.0/4', '240.0.0.0/4', '0.0.0.0/8']) {
      assert.equal(publicCount([cidr(c)], 4), 0n, c);
    }
  });

  it('counts a public IPv4 network whole, and overlaps once', () => {
    assert.equal(publicCount([cidr('11.0.0.0/8')], 4), 1n << 24n);
    assert.equal(publicCount([cidr('11.0.0.0/8'), cidr('11.0.0.0/9')], 4), 1n << 24n);
    assert.equal(publicCount([cidr('11.0.0.0/8'), cidr('10.0.0.0/8')], 4), 1n << 24n);
    assert.equal(publicCount([cidr('192.0.2.0/23')], 4), 256n); // 192.0.2.0/24 is documentation, 192.0.3.0/24 is public
  });

  it('the whole IPv4 space minus the reserved blocks is public', () => {
    const reserved = 3n * (1n << 24n) + (1n << 22n) + (1n << 16n) + (1n << 20n) + 256n + 256n + (1n << 16n) + (1n << 17n) + 256n + 256n + (1n << 29n);
    assert.equal(publicCount([cidr('0.0.0.0/0')], 4), (1n << 32n) - reserved);
    assert.equal(publicCount([cidr('::/0')], 4), (1n << 32n) - reserved);
  });

  it('IPv4 ranges count nothing for IPv6, and IPv6 ranges nothing for IPv4', () => {
    assert.equal(publicCount([cidr('0.0.0.0/0')], 6), 0n);
    assert.equal(publicCount([cidr('2a00::/12')], 4), 0n);
  });

  it('unique-local, link-local, multicast, documentation and loopback IPv6 space is not public', () => {
    for (const c of ['fc00::/7', 'fe80::/10', 'ff00::/8', '2001:db8::/32', '::1/128']) {
      assert.equal(publicCount([cidr(c)], 6), 0n, c);
    }
  });

  it('counts global unicast IPv6 space as public', () => {
    assert.equal(publicCount([cidr('2a00::/16')], 6), 1n << 112n);
    assert.equal(publicCount([cidr('2001::/16')], 6), (1n << 112n) - (1n << 96n));
    assert.equal(publicCount([cidr('2000::/3')], 6), (1n << 125n) - (1n << 96n));
    assert.equal(publicCount([cidr('::/0')], 6), (1n << 125n) - (1n << 96n));
  });

  it('does not count reserved IPv6 space outside 2000::/3 as public', () => {
    assert.equal(publicCount([cidr('4000::/2')], 6), 0n);
    assert.equal(publicCount([cidr('8000::/1')], 6), 0n);
  });
});
