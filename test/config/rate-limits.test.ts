// limits.rate in the settings (src/config/shape.ts, validate.ts): an absent
// key is no limit; each entry is read as written (optional keys left out,
// action defer by default); what `match` names must exist for its `who`; an
// entry that counts nothing, or a network limit without its network, is an
// error at its path.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { embeddedDefaults } from '../../src/config/document.ts';

function doc(rate: unknown): Record<string, unknown> {
  const d = embeddedDefaults() as unknown as Record<string, unknown>;
  return { ...d, groups: [{ name: 'sales' }], users: [], limits: { rate } };
}

const errorsOf = (rate: unknown) => validate(doc(rate)).errors.map((e) => `${e.path}: ${e.message}`);

describe('limits.rate settings', () => {
  it('absent: no limits; an old document reads unchanged', () => {
    const d = embeddedDefaults() as unknown as Record<string, unknown>;
    assert.deepEqual(validate({ ...d, limits: {} }).settings.limits.rate, []);
  });

  it('reads each entry, defer by default, optional keys left out when absent', () => {
    const v = validate(
      doc([
        { who: 'user', messages: 100, per: '1h' },
        { name: 'sales', who: 'group', match: 'sales', recipients: 500, messages: 50, per: '1d', action: 'hold', comment: 'ask first' },
        { who: 'network', match: 'localhost', messages: 10, per: '1m', action: 'reject' },
        { who: 'sender_domain', match: 'Example.COM', recipients: 5, per: '1m' },
        { who: 'client', match: 'localhost', messages: 1, per: '1d' },
      ]),
    );
    assert.deepEqual(v.errors, []);
    assert.deepEqual(v.settings.limits.rate, [
      { who: 'user', per: '1h', action: 'defer', messages: 100 },
      { name: 'sales', who: 'group', match: 'sales', recipients: 500, messages: 50, per: '1d', action: 'hold', comment: 'ask first' },
      { who: 'network', match: 'localhost', messages: 10, per: '1m', action: 'reject' },
      { who: 'sender_domain', match: 'Example.COM', recipients: 5, per: '1m', action: 'defer' },
      { who: 'client', match: 'localhost', messages: 1, per: '1d', action: 'defer' },
    ]);
  });

  it('refuses an entry that counts nothing, unknown who/per/action, and numbers out of range', () => {
    assert.deepEqual(errorsOf([{ who: 'user', per: '1h' }]), ['limits.rate[0]: sets neither messages nor recipients: it would count nothing']);
    assert.match(errorsOf([{ who: 'everyone', messages: 1, per: '1h' }]).join('\n'), /limits\.rate\[0\]\.who: must be one of user, group, network, client, sender_domain/);
    assert.match(errorsOf([{ who: 'user', messages: 1, per: '2h' }]).join('\n'), /limits\.rate\[0\]\.per: must be one of 1m, 1h, 1d/);
    assert.match(errorsOf([{ who: 'user', messages: 1 }]).join('\n'), /limits\.rate\[0\]\.per: is required/);
    assert.match(errorsOf([{ who: 'user', messages: 1, per: '1h', action: 'drop' }]).join('\n'), /limits\.rate\[0\]\.action: must be one of defer, reject, hold/);
    assert.match(errorsOf([{ who: 'user', messages: 0, per: '1h' }]).join('\n'), /limits\.rate\[0\]\.messages: must be between 1 and/);
    assert.match(errorsOf([{ who: 'user', messages: 1, per: '1h', limit: 3 }]).join('\n'), /limits\.rate\[0\]\.limit: unknown setting/);
  });

  it('inbound: kept for a sender_domain limit (absent when false), refused on the others', () => {
    const v = validate(doc([{ who: 'sender_domain', messages: 1, per: '1h', inbound: true }, { who: 'sender_domain', messages: 1, per: '1h', inbound: false }]));
    assert.deepEqual(v.settings.limits.rate.map((l) => l.inbound), [true, undefined]);
    assert.deepEqual(errorsOf([{ who: 'client', messages: 1, per: '1h', inbound: true }]), ['limits.rate[0].inbound: only a sender_domain limit has it (the others count every client)']);
  });

  it('checks what match names for its who', () => {
    assert.deepEqual(errorsOf([{ who: 'network', messages: 1, per: '1h' }]), ['limits.rate[0].match: is required for who: network (the network object whose clients share one bucket)']);
    assert.match(errorsOf([{ who: 'network', match: 'lab', messages: 1, per: '1h' }]).join('\n'), /limits\.rate\[0\]\.match: unknown network object "lab"/);
    assert.match(errorsOf([{ who: 'client', match: 'lab', messages: 1, per: '1h' }]).join('\n'), /limits\.rate\[0\]\.match: unknown network object "lab"/);
    assert.match(errorsOf([{ who: 'group', match: 'it', messages: 1, per: '1h' }]).join('\n'), /limits\.rate\[0\]\.match: /);
    assert.match(errorsOf([{ who: 'user', match: 'nobody', messages: 1, per: '1h' }]).join('\n'), /limits\.rate\[0\]\.match: unknown user "nobody"/);
    assert.match(errorsOf([{ who: 'sender_domain', match: 'not a domain', messages: 1, per: '1h' }]).join('\n'), /limits\.rate\[0\]\.match: "not a domain" is not a valid domain name/);
  });
});
