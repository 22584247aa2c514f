// Unit tests of web/src/format.ts: delivery errors in plain words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plainDeliveryError } from '../../web/src/format.ts';

test('socket errors are said in words, with the address', () => {
  assert.equal(plainDeliveryError('ESOCKET: connect ECONNREFUSED 192.0.2.1:25'), 'connection refused by 192.0.2.1:25');
  assert.equal(plainDeliveryError('ECONNECTION: connect ECONNREFUSED [2001:db8::1]:25'), 'connection refused by [2001:db8::1]:25');
  assert.equal(plainDeliveryError('ESOCKET: getaddrinfo ENOTFOUND mx.nowhere.example'), 'host name mx.nowhere.example not found in DNS');
  assert.equal(plainDeliveryError('ESOCKET: connect ETIMEDOUT 192.0.2.9:25'), 'no answer from 192.0.2.9:25 (connection timed out)');
  assert.equal(plainDeliveryError('ETIMEDOUT: Greeting never received'), 'the server sent no greeting (timed out)');
  assert.equal(plainDeliveryError('ESOCKET: read ECONNRESET'), 'connection reset by the server');
  assert.equal(plainDeliveryError('message expired in the queue after 3 attempts; last error: ESOCKET: connect ECONNREFUSED 192.0.2.1:25'), 'message expired in the queue after 3 attempts; last error: connection refused by 192.0.2.1:25');
});

test("a server's reply is kept; an unknown library code is dropped, its text kept", () => {
  assert.equal(plainDeliveryError('451 4.3.0 try again later'), '451 4.3.0 try again later');
  assert.equal(plainDeliveryError('ETLS: certificate has expired'), 'certificate has expired');
  assert.equal(plainDeliveryError('no MX or A record for nowhere.example'), 'no MX or A record for nowhere.example');
});
