// clientBucket: the key of the per-client counters. IPv4 addresses count
// alone; IPv6 ones by their network of limits.ipv6_client_prefix bits.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientBucket } from '../../src/objects/client-bucket.ts';

test('IPv4 and IPv4-mapped addresses are their own bucket', () => {
  assert.equal(clientBucket('192.0.2.7', 64), '192.0.2.7');
  assert.equal(clientBucket('::ffff:192.0.2.7', 64), '192.0.2.7');
});

test('IPv6 addresses share the bucket of their /64 (or the prefix given)', () => {
  assert.equal(clientBucket('2001:db8:1:2::a', 64), '2001:db8:1:2::/64');
  assert.equal(clientBucket('2001:db8:1:2:ffff:ffff:ffff:ffff', 64), '2001:db8:1:2::/64');
  assert.notEqual(clientBucket('2001:db8:1:3::a', 64), clientBucket('2001:db8:1:2::a', 64));
  assert.equal(clientBucket('2001:db8:1:2:3::a', 56), '2001:db8:1::/56');
  assert.equal(clientBucket('2001:db8:1:2ff::a', 56), '2001:db8:1:200::/56');
  assert.equal(clientBucket('2001:db8::1', 48), '2001:db8::/48');
  assert.equal(clientBucket('::1', 64), '::/64');
});

test('prefix 128 counts each address; text that is no address stays as it is', () => {
  assert.equal(clientBucket('2001:db8:1:2::a', 128), '2001:db8:1:2::a');
  assert.equal(clientBucket('not:an:address', 64), 'not:an:address');
  assert.equal(clientBucket('', 64), '');
});
