// NetworkIndex: network objects resolved to ranges, matched by client address
// with the path of names that led to the match.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkIndex, describeRanges } from '../../src/objects/networks.ts';
import { Findings } from '../../src/config/issues.ts';
import type { NetworkDef } from '../../src/config/document.ts';
import { ALL_ADDRESSES, parseCidr, parseIp, type IpRange } from '../../src/objects/ip.ts';

function ip(text: string): bigint {
  const p = parseIp(text);
  assert.ok(p.ok, `expected ${text} to parse`);
  return p.value;
}

function cidr(text: string): IpRange {
  const p = parseCidr(text);
  assert.ok(p.ok, `expected ${text} to parse`);
  return p.range;
}

function build(defs: NetworkDef[]): { index: NetworkIndex; f: Findings } {
  const f = new Findings();
  return { index: NetworkIndex.build(defs, f), f };
}

const office: NetworkDef = { name: 'office', type: 'network', address: '10.1.0.0/16' };
const ispMx: NetworkDef = { name: 'isp-mx', type: 'host', address: '192.0.2.10' };
const dmz: NetworkDef = { name: 'dmz', type: 'range', from: '10.2.0.10', to: '10.2.0.20' };
const v6net: NetworkDef = { name: 'v6net', type: 'network', address: '2001:db8:1::/48' };
const v6host: NetworkDef = { name: 'v6host', type: 'host', address: '2001:db8::25' };
const trusted: NetworkDef = { name: 'trusted', type: 'group', members: ['office', 'isp-mx'] };
const outer: NetworkDef = { name: 'outer', type: 'group', members: ['dmz', 'trusted', 'v6net'] };

describe('NetworkIndex: a valid set of objects', () => {
  const { index, f } = build([office, ispMx, dmz, v6net, v6host, trusted, outer]);

  it('reports no finding', () => {
    assert.deepEqual(f.errors, []);
    assert.deepEqual(f.warnings, []);
  });

  it('knows every defined name and the built-in Any, and nothing else', () => {
    for (const n of ['office', 'isp-mx', 'dmz', 'v6net', 'v6host', 'trusted', 'outer', 'Any']) assert.equal(index.has(n), true, n);
    for (const n of ['Office', 'ofice', 'any', 'ANY', '']) assert.equal(index.has(n), false, n);
    assert.deepEqual(index.names().sort(), ['dmz', 'isp-mx', 'office', 'outer', 'trusted', 'v6host', 'v6net']);
    assert.equal(index.get('office'), office);
    assert.equal(index.get('nope'), undefined);
  });

  it('matches a host only at its address', () => {
    assert.deepEqual(index.match('isp-mx', ip('192.0.2.10')), ['isp-mx']);
    assert.equal(index.match('isp-mx', ip('192.0.2.11')), null);
    assert.equal(index.match('isp-mx', ip('192.0.2.9')), null);
  });

  it('matches a network over its whole prefix and not beyond', () => {
    assert.deepEqual(index.match('office', ip('10.1.0.0')), ['office']);
    assert.deepEqual(index.match('office', ip('10.1.255.255')), ['office']);
    assert.equal(index.match('office', ip('10.2.0.0')), null);
    assert.equal(index.match('office', ip('10.0.255.255')), null);
  });

  it('matches a range inclusively at both ends', () => {
    assert.deepEqual(index.match('dmz', ip('10.2.0.10')), ['dmz']);
    assert.deepEqual(index.match('dmz', ip('10.2.0.20')), ['dmz']);
    assert.deepEqual(index.match('dmz', ip('10.2.0.15')), ['dmz']);
    assert.equal(index.match('dmz', ip('10.2.0.9')), null);
    assert.equal(index.match('dmz', ip('10.2.0.21')), null);
  });

  it('matches through groups and names the path of objects', () => {
    assert.deepEqual(index.match('trusted', ip('10.1.2.3')), ['trusted', 'office']);
    assert.deepEqual(index.match('trusted', ip('192.0.2.10')), ['trusted', 'isp-mx']);
    assert.deepEqual(index.match('outer', ip('10.1.2.3')), ['outer', 'trusted', 'office']);
    assert.deepEqual(index.match('outer', ip('192.0.2.10')), ['outer', 'trusted', 'isp-mx']);
    assert.deepEqual(index.match('outer', ip('10.2.0.12')), ['outer', 'dmz']);
    assert.equal(index.match('trusted', ip('10.2.0.12')), null);
    assert.equal(index.match('outer', ip('8.8.8.8')), null);
  });

  it('matches IPv6 hosts and networks', () => {
    assert.deepEqual(index.match('v6host', ip('2001:db8::25')), ['v6host']);
    assert.deepEqual(index.match('v6host', ip('2001:DB8:0:0::25')), ['v6host']);
    assert.equal(index.match('v6host', ip('2001:db8::26')), null);
    assert.deepEqual(index.match('outer', ip('2001:db8:1:ffff::1')), ['outer', 'v6net']);
    assert.equal(index.match('outer', ip('2001:db8:2::1')), null);
  });

  it('an IPv4-mapped IPv6 client matches the same objects as the plain IPv4 client', () => {
    for (const [plain, mapped, mappedHex] of [
      ['10.1.2.3', '::ffff:10.1.2.3', '::ffff:a01:203'],
      ['192.0.2.10', '::ffff:192.0.2.10', '::ffff:c000:20a'],
      ['10.2.0.10', '::ffff:10.2.0.10', '::ffff:a02:a'],
    ] as const) {
      for (const name of ['office', 'isp-mx', 'dmz', 'trusted', 'outer', 'Any']) {
        assert.deepEqual(index.match(name, ip(mapped)), index.match(name, ip(plain)), `${mapped} vs ${plain} in ${name}`);
        assert.deepEqual(index.match(name, ip(mappedHex)), index.match(name, ip(plain)), `${mappedHex} vs ${plain} in ${name}`);
      }
      assert.notEqual(index.match('outer', ip(mapped)), null);
    }
  });

  it('an IPv4 network does not match IPv6 addresses that merely end in the same bits', () => {
    assert.equal(index.match('office', ip('::10.1.2.3')), null);
    assert.equal(index.match('office', ip('::ffff:0:10.1.2.3')), null);
    assert.equal(index.match('office', ip('2001:db8::a01:203')), null);
  });

  it('Any matches every address of both families', () => {
    for (const a of ['0.0.0.0', '10.1.2.3', '255.255.255.255', '::', '::1', '2001:db8::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:8.8.8.8']) {
      assert.deepEqual(index.match('Any', ip(a)), ['Any'], a);
    }
    assert.deepEqual(index.ranges('Any'), [ALL_ADDRESSES]);
  });

  it('an unknown name matches nothing and has no ranges', () => {
    assert.equal(index.match('nope', ip('10.1.2.3')), null);
    assert.deepEqual(index.ranges('nope'), []);
    assert.deepEqual(index.leaves('nope'), []);
  });

  it('ranges of a group are the merged ranges of its leaves', () => {
    assert.deepEqual(index.ranges('trusted'), [cidr('10.1.0.0/16'), cidr('192.0.2.10/32')]);
    assert.deepEqual(index.ranges('outer'), [cidr('10.1.0.0/16'), { from: ip('10.2.0.10'), to: ip('10.2.0.20') }, cidr('192.0.2.10/32'), cidr('2001:db8:1::/48')]);
    assert.equal(describeRanges(index.ranges('trusted')), '10.1.0.0-10.1.255.255, 192.0.2.10');
  });

  it('leaves carry the path to each leaf', () => {
    assert.deepEqual(
      index.leaves('outer').map((l) => l.path),
      [['outer', 'dmz'], ['outer', 'trusted', 'office'], ['outer', 'trusted', 'isp-mx'], ['outer', 'v6net']],
    );
  });

  it('groupsContaining names the groups that list an object directly', () => {
    assert.deepEqual(index.groupsContaining('office'), ['trusted']);
    assert.deepEqual(index.groupsContaining('trusted'), ['outer']);
    assert.deepEqual(index.groupsContaining('v6host'), []);
  });
});

describe('NetworkIndex: groups with Any and mapped networks', () => {
  it('a group containing Any matches everything, through the group', () => {
    const { index, f } = build([{ name: 'everyone', type: 'group', members: ['Any'] }, { name: 'wrap', type: 'group', members: ['everyone'] }]);
    assert.deepEqual(f.errors, []);
    assert.deepEqual(index.match('wrap', ip('8.8.8.8')), ['wrap', 'everyone', 'Any']);
    assert.deepEqual(index.match('wrap', ip('2a00::1')), ['wrap', 'everyone', 'Any']);
    assert.deepEqual(index.ranges('wrap'), [ALL_ADDRESSES]);
  });

  it('a network written as mapped IPv6 matches plain IPv4 clients', () => {
    const { index, f } = build([{ name: 'm', type: 'network', address: '::ffff:10.0.0.0/104' }, { name: 'mh', type: 'host', address: '::ffff:10.9.9.9' }]);
    assert.deepEqual(f.errors, []);
    assert.deepEqual(index.match('m', ip('10.200.1.1')), ['m']);
    assert.equal(index.match('m', ip('11.0.0.0')), null);
    assert.deepEqual(index.match('mh', ip('10.9.9.9')), ['mh']);
  });

  it('an IPv6 range matches inside and not outside', () => {
    const { index, f } = build([{ name: 'r6', type: 'range', from: '2001:db8::10', to: '2001:db8::1:0' }]);
    assert.deepEqual(f.errors, []);
    assert.deepEqual(index.match('r6', ip('2001:db8::ffff')), ['r6']);
    assert.equal(index.match('r6', ip('2001:db8::f')), null);
    assert.equal(index.match('r6', ip('2001:db8::1:1')), null);
  });

  it('the first matching leaf decides the path', () => {
    const { index } = build([
      { name: 'wide', type: 'network', address: '10.0.0.0/8' },
      { name: 'narrow', type: 'host', address: '10.1.1.1' },
      { name: 'g', type: 'group', members: ['narrow', 'wide'] },
    ]);
    assert.deepEqual(index.match('g', ip('10.1.1.1')), ['g', 'narrow']);
    assert.deepEqual(index.match('g', ip('10.1.1.2')), ['g', 'wide']);
  });
});

describe('NetworkIndex: problems in definitions', () => {
  it('reports a malformed address at its path, and the object matches nothing', () => {
    const { index, f } = build([
      { name: 'h', type: 'host', address: '010.1.2.3' },
      { name: 'n', type: 'network', address: '10.0.0.1/8' },
      { name: 'r', type: 'range', from: '10.0.0.9', to: '10.0.0.1' },
      { name: 'x', type: 'range', from: '10.0.0.1', to: '2001:db8::1' },
      { name: 'hc', type: 'host', address: '10.0.0.0/8' },
      { name: 'bad-to', type: 'range', from: '10.0.0.1', to: '10.1' },
    ]);
    const byPath = new Map(f.errors.map((e) => [e.path, e.message]));
    assert.deepEqual([...byPath.keys()].sort(), ['networks[0].address', 'networks[1].address', 'networks[2]', 'networks[3]', 'networks[4].address', 'networks[5].to']);
    assert.equal(f.errors.length, 6);
    assert.match(byPath.get('networks[1].address') ?? '', /host bits/);
    assert.match(byPath.get('networks[2]') ?? '', /comes after/);
    assert.match(byPath.get('networks[3]') ?? '', /same address family/);
    assert.match(byPath.get('networks[4].address') ?? '', /use type network/);
    for (const n of ['h', 'n', 'r', 'x', 'hc', 'bad-to']) assert.deepEqual(index.ranges(n), [], n);
    assert.equal(index.match('n', ip('10.0.0.1')), null);
  });

  it('refuses a name that collides with Any, in any case', () => {
    for (const name of ['Any', 'any', 'ANY']) {
      const { index, f } = build([{ name, type: 'host', address: '10.0.0.1' }]);
      assert.equal(f.errors.length, 1, name);
      assert.equal(f.errors[0]?.path, 'networks[0].name');
      assert.match(f.errors[0]?.message ?? '', /built-in/);
      // The built-in keeps its meaning.
      assert.deepEqual(index.match('Any', ip('8.8.8.8')), ['Any']);
    }
  });

  it('refuses a duplicate name, also when only the case differs', () => {
    const { f } = build([office, { ...ispMx, name: 'office' }, { ...dmz, name: 'OFFICE' }]);
    assert.deepEqual(f.errors.map((e) => e.path), ['networks[1].name', 'networks[2].name']);
    for (const e of f.errors) assert.match(e.message, /already defined at networks\[0\]/);
  });

  it('the first definition wins for a duplicated name', () => {
    const { index } = build([office, { ...ispMx, name: 'office' }]);
    assert.deepEqual(index.match('office', ip('10.1.0.1')), ['office']);
    assert.equal(index.match('office', ip('192.0.2.10')), null);
  });

  it('reports unknown group members with a case hint', () => {
    const { f } = build([office, { name: 'g', type: 'group', members: ['office', 'ofice', 'Office', 'any'] }]);
    assert.deepEqual(f.errors.map((e) => e.path), ['networks[1].members[1]', 'networks[1].members[2]', 'networks[1].members[3]']);
    assert.equal(f.errors[0]?.message, 'unknown network object "ofice"');
    assert.equal(f.errors[1]?.message, 'unknown network object "Office" (did you mean "office"?)');
    assert.equal(f.errors[2]?.message, 'unknown network object "any" (did you mean "Any"?)');
  });
});

describe('NetworkIndex: cycles', () => {
  it('reports self-membership and does not hang resolving it', () => {
    const { index, f } = build([office, { name: 'self', type: 'group', members: ['self', 'office'] }]);
    assert.equal(f.errors.length, 1);
    assert.equal(f.errors[0]?.path, 'networks[1].members');
    assert.match(f.errors[0]?.message ?? '', /cycle: self → self/);
    assert.deepEqual(index.match('self', ip('10.1.0.1')), ['self', 'office']);
    assert.equal(index.match('self', ip('8.8.8.8')), null);
  });

  it('reports a longer cycle once, naming every group in it', () => {
    const { index, f } = build([
      { name: 'a', type: 'group', members: ['b'] },
      { name: 'b', type: 'group', members: ['c', 'h'] },
      { name: 'c', type: 'group', members: ['a'] },
      { name: 'h', type: 'host', address: '10.0.0.1' },
    ]);
    assert.equal(f.errors.length, 1);
    assert.equal(f.errors[0]?.path, 'networks[0].members');
    assert.match(f.errors[0]?.message ?? '', /a → b → c → a/);
    for (const g of ['a', 'b', 'c']) {
      assert.deepEqual(index.ranges(g), [cidr('10.0.0.1/32')], g);
      assert.equal(index.match(g, ip('10.0.0.2')), null, g);
    }
    assert.deepEqual(index.match('c', ip('10.0.0.1')), ['c', 'a', 'b', 'h']);
  });

  it('reports two separate cycles separately', () => {
    const { f } = build([
      { name: 'a', type: 'group', members: ['b'] },
      { name: 'b', type: 'group', members: ['a'] },
      { name: 'x', type: 'group', members: ['y'] },
      { name: 'y', type: 'group', members: ['x'] },
    ]);
    assert.equal(f.errors.length, 2);
    assert.ok(f.errors.every((e) => e.message.includes('cycle')));
  });

  it('a diamond (one group reached twice) is not a cycle', () => {
    const { index, f } = build([
      office,
      { name: 'l', type: 'group', members: ['office'] },
      { name: 'r', type: 'group', members: ['office'] },
      { name: 'top', type: 'group', members: ['l', 'r'] },
    ]);
    assert.deepEqual(f.errors, []);
    assert.deepEqual(index.ranges('top'), [cidr('10.1.0.0/16')]);
  });

  it('a group reached along two paths gives its leaves once, by the first path', () => {
    const { index, f } = build([
      office,
      { name: 'inner', type: 'group', members: ['office'] },
      { name: 'l', type: 'group', members: ['inner'] },
      { name: 'r', type: 'group', members: ['inner'] },
      { name: 'top', type: 'group', members: ['l', 'r'] },
    ]);
    assert.deepEqual(f.errors, []);
    assert.deepEqual(index.leaves('top').map((l) => l.path), [['top', 'l', 'inner', 'office']]);
    assert.deepEqual(index.match('top', ip('10.1.2.3')), ['top', 'l', 'inner', 'office']);
  });

  it('a chain of diamonds costs its size, not its paths (2^30 here); nesting past the limit is an error, not a stack overflow', () => {
    const defs: NetworkDef[] = [{ name: 'leaf', type: 'host', address: '10.9.9.9' }];
    for (let i = 0; i < 30; i++) {
      const next = i === 29 ? ['leaf'] : [`g${i + 1}`, `h${i + 1}`];
      defs.push({ name: `g${i}`, type: 'group', members: next }, { name: `h${i}`, type: 'group', members: next });
    }
    const started = performance.now();
    const { index, f } = build(defs);
    assert.deepEqual(f.errors, []);
    assert.deepEqual(index.ranges('g0'), [cidr('10.9.9.9/32')]);
    assert.ok(performance.now() - started < 2000, 'linear, not exponential');
    const chain: NetworkDef[] = [{ name: 'c8000', type: 'host', address: '10.0.0.1' }];
    for (let i = 0; i < 8000; i++) chain.push({ name: `c${i}`, type: 'group', members: [`c${i + 1}`] });
    const deep = build(chain);
    assert.ok(deep.f.errors.some((e) => /nested more than 32 levels/.test(e.message)), JSON.stringify(deep.f.errors.slice(0, 2)));
    assert.deepEqual(deep.index.ranges('c7990'), [cidr('10.0.0.1/32')], 'a short enough tail still resolves');
  });

  it('a group that merely reaches a cycle is not reported as one', () => {
    const { f } = build([
      { name: 'outside', type: 'group', members: ['a'] },
      { name: 'a', type: 'group', members: ['b'] },
      { name: 'b', type: 'group', members: ['a'] },
    ]);
    assert.equal(f.errors.length, 1);
    assert.match(f.errors[0]?.message ?? '', /a → b → a/);
    assert.doesNotMatch(f.errors[0]?.message ?? '', /outside/);
  });
});
