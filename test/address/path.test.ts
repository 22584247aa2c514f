// The strict RFC 5321 path parser the relay rules decide on: the open-relay
// battery, every grammar rule, the length limits at their boundaries, and
// hostile input that must be refused without throwing.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkDomain, isDomainName, isStrictIPv4, normaliseDomain, parsePath, type Mailbox, type PathOptions } from '../../src/address/path.ts';

const OURS = 'example.com';
const VICTIM = 'victim.example';
const WIRE: PathOptions = { requireBrackets: true };

function mailbox(input: string, opts?: PathOptions): Mailbox {
  const r = parsePath(input, opts);
  if (!r.ok) assert.fail(`${JSON.stringify(input)} refused: ${r.reason}`);
  if (r.kind !== 'mailbox') assert.fail(`${JSON.stringify(input)} parsed as ${r.kind}, expected a mailbox`);
  return r.mailbox;
}

function refused(input: string, opts?: PathOptions): { reason: string; routing: boolean } {
  const r = parsePath(input, opts);
  if (r.ok) assert.fail(`${JSON.stringify(input)} accepted as ${JSON.stringify(r)}`);
  assert.equal(typeof r.reason, 'string');
  assert.ok(r.reason.length > 0);
  return { reason: r.reason, routing: r.routing };
}

/** A dotted name of exactly `n` octets, labels of at most 63. */
function domainOfLength(n: number): string {
  const labels: string[] = [];
  while (n > 63) {
    labels.push('x'.repeat(62));
    n -= 63;
  }
  labels.push('x'.repeat(n));
  return labels.join('.');
}

describe('the open-relay battery', () => {
  // Each case: the bare input, then what the parse must say.
  const battery: Array<[string, (input: string, opts?: PathOptions) => void]> = [
    [`user%${VICTIM}@${OURS}`, (s, o) => {
      const m = mailbox(s, o);
      assert.deepEqual(m.routingOperators, ['%']);
      assert.equal(m.local, `user%${VICTIM}`);
      assert.equal(m.domain, OURS);
    }],
    [`"user@${VICTIM}"`, (s, o) => {
      assert.deepEqual(refused(s, o), { reason: 'missing domain', routing: true });
    }],
    [`"user@${VICTIM}"@${OURS}`, (s, o) => {
      const m = mailbox(s, o);
      assert.equal(m.quoted, true);
      assert.equal(m.local, `"user@${VICTIM}"`);
      assert.equal(m.localUnquoted, `user@${VICTIM}`);
      assert.deepEqual(m.routingOperators, ['@']);
      assert.equal(m.domain, OURS);
    }],
    [`@${OURS}:user@${VICTIM}`, (s, o) => {
      const m = mailbox(s, o);
      assert.deepEqual(m.sourceRoute, [OURS]);
      assert.equal(m.domain, VICTIM);
      assert.equal(m.local, 'user');
      assert.deepEqual(m.routingOperators, []);
      assert.equal(m.address, `user@${VICTIM}`);
    }],
    [`${VICTIM}!user@${OURS}`, (s, o) => {
      const m = mailbox(s, o);
      assert.deepEqual(m.routingOperators, ['!']);
      assert.equal(m.domain, OURS);
    }],
    [`user@${VICTIM}@${OURS}`, (s, o) => {
      assert.deepEqual(refused(s, o), { reason: 'more than one @ outside quotes', routing: true });
    }],
    [`user@${VICTIM}.`, (s, o) => {
      const m = mailbox(s, o);
      assert.equal(m.domain, VICTIM);
      assert.equal(m.address, `user@${VICTIM}`);
    }],
    ['user@[192.0.2.7]', (s, o) => {
      const m = mailbox(s, o);
      assert.equal(m.literal, '192.0.2.7');
      assert.equal(m.domain, '[192.0.2.7]');
    }],
    [`USER@${VICTIM.toUpperCase()}`, (s, o) => {
      const m = mailbox(s, o);
      assert.equal(m.local, 'USER');
      assert.equal(m.localUnquoted, 'USER');
      assert.equal(m.domain, VICTIM);
      assert.equal(m.address, `USER@${VICTIM}`);
    }],
    ['postmaster', (s, o) => {
      assert.deepEqual(parsePath(s, o), { ok: true, kind: 'postmaster', local: 'postmaster' });
    }],
    // The rest of openRelayBattery() in src/checks/explain.ts.
    [`user@${VICTIM}`, (s, o) => {
      const m = mailbox(s, o);
      assert.equal(m.domain, VICTIM);
      assert.deepEqual(m.routingOperators, []);
    }],
    [`"user%${VICTIM}"@${OURS}`, (s, o) => {
      const m = mailbox(s, o);
      assert.equal(m.quoted, true);
      assert.deepEqual(m.routingOperators, ['%']);
    }],
    [`user%${VICTIM}%${OURS}@${OURS}`, (s, o) => {
      assert.deepEqual(mailbox(s, o).routingOperators, ['%']);
    }],
    [`@${OURS},@${VICTIM}:user@${VICTIM}`, (s, o) => {
      const m = mailbox(s, o);
      assert.deepEqual(m.sourceRoute, [OURS, VICTIM]);
      assert.equal(m.domain, VICTIM);
    }],
    [`${VICTIM}!user`, (s, o) => {
      assert.deepEqual(refused(s, o), { reason: 'missing domain', routing: true });
    }],
    [`user@${VICTIM}.@${OURS}`, (s, o) => {
      assert.deepEqual(refused(s, o), { reason: 'more than one @ outside quotes', routing: true });
    }],
    ['user@[IPv6:2001:db8::7]', (s, o) => {
      const m = mailbox(s, o);
      assert.equal(m.literal, '2001:db8::7');
      assert.equal(m.domain, '[ipv6:2001:db8::7]');
    }],
  ];

  for (const [bare, check] of battery) {
    it(`${bare}: bare, in <>, and on the wire`, () => {
      check(bare);
      check(`<${bare}>`);
      check(`<${bare}>`, WIRE);
      check(`<${bare}>`, { allowNull: true });
      const wire = refused(bare, WIRE);
      assert.equal(wire.reason, 'path must be enclosed in "<" and ">"');
    });
  }

  it('<postmaster> as written in the battery', () => {
    assert.deepEqual(parsePath('<postmaster>'), { ok: true, kind: 'postmaster', local: 'postmaster' });
    assert.deepEqual(parsePath('<postmaster>', WIRE), { ok: true, kind: 'postmaster', local: 'postmaster' });
  });

  it('a bare wire path still says whether it was routing', () => {
    assert.equal(refused(`user%${VICTIM}@${OURS}`, WIRE).routing, true);
    assert.equal(refused(`"user@${VICTIM}"@${OURS}`, WIRE).routing, true);
    assert.equal(refused(`user@${VICTIM}@${OURS}`, WIRE).routing, true);
    assert.equal(refused(`user@${VICTIM}`, WIRE).routing, false);
    assert.equal(refused('postmaster', WIRE).routing, false);
  });
});

describe('brackets, whitespace and the null path', () => {
  it('accepts a bare address unless brackets are required', () => {
    assert.equal(mailbox('a@example.com').address, 'a@example.com');
    assert.equal(mailbox('<a@example.com>').address, 'a@example.com');
    assert.equal(mailbox('<a@example.com>', WIRE).address, 'a@example.com');
    assert.equal(mailbox('a@example.com', { requireBrackets: false }).address, 'a@example.com');
  });

  it('refuses unbalanced or doubled brackets', () => {
    assert.match(refused('<a@example.com').reason, /missing ">"/);
    assert.match(refused('a@example.com>').reason, /">" without "<"/);
    assert.match(refused('<').reason, /missing ">"/);
    assert.match(refused('>').reason, /">" without "<"/);
    assert.match(refused('<<a@example.com>>').reason, /"<" not allowed in an unquoted local part/);
    assert.match(refused('<a@example.com>>').reason, /">" not allowed in domain/);
    assert.match(refused('<a>@example.com>').reason, /">" not allowed/);
  });

  it('refuses whitespace around or inside the path', () => {
    for (const s of [' <a@example.com>', '<a@example.com> ', '\ta@example.com', 'a@example.com\r\n', '\u00a0<a@example.com>']) {
      assert.equal(refused(s).reason, 'whitespace around the path', JSON.stringify(s));
    }
    assert.equal(refused('< a@example.com>').reason, 'space outside quotes');
    assert.equal(refused('<a @example.com>').reason, 'space outside quotes');
    assert.match(refused('<a@ example.com>').reason, /space not allowed in domain/);
    assert.match(refused('<a@example.com >').reason, /space not allowed in domain/);
    assert.equal(refused(` user@${VICTIM}@${OURS}`).routing, true);
  });

  it('refuses an empty string', () => {
    assert.equal(refused('').reason, 'empty path');
    assert.equal(refused('', { allowNull: true }).reason, 'empty path');
    assert.equal(refused('', WIRE).reason, 'empty path');
  });

  it('accepts <> only when allowed', () => {
    assert.deepEqual(parsePath('<>', { allowNull: true }), { ok: true, kind: 'null' });
    assert.deepEqual(parsePath('<>', { allowNull: true, requireBrackets: true }), { ok: true, kind: 'null' });
    assert.deepEqual(refused('<>'), { reason: 'null path not allowed here', routing: false });
    assert.deepEqual(refused('<>', { allowNull: false }), { reason: 'null path not allowed here', routing: false });
    assert.equal(refused('< >', { allowNull: true }).reason, 'space outside quotes');
    assert.equal(refused(' <>', { allowNull: true }).reason, 'whitespace around the path');
  });
});

describe('postmaster without a domain', () => {
  it('accepts "postmaster" in any case, keeping it as given', () => {
    for (const s of ['postmaster', 'POSTMASTER', 'PostMaster']) {
      assert.deepEqual(parsePath(s), { ok: true, kind: 'postmaster', local: s });
      assert.deepEqual(parsePath(`<${s}>`, WIRE), { ok: true, kind: 'postmaster', local: s });
    }
  });

  it('postmaster with a domain is an ordinary mailbox', () => {
    const m = mailbox('<Postmaster@Example.COM>');
    assert.equal(m.local, 'Postmaster');
    assert.equal(m.domain, 'example.com');
  });

  it('anything else without a domain is refused', () => {
    assert.equal(refused('postmaster.').reason, 'local part ends with a dot');
    for (const s of ['"postmaster"', 'postmasters', 'post.master', 'user', '<@a.example:postmaster>']) {
      assert.equal(refused(s).reason, 'missing domain', s);
    }
    assert.equal(refused('user@').reason, 'missing domain');
    assert.equal(refused('user').routing, false);
  });
});

describe('dot-string local parts', () => {
  it('accepts every atext character and single dots', () => {
    const specials = "!#$%&'*+-/=?^_`{|}~";
    const m = mailbox(`a${specials}z@example.com`);
    assert.equal(m.local, `a${specials}z`);
    assert.equal(m.localUnquoted, m.local);
    assert.equal(m.quoted, false);
    assert.deepEqual(m.routingOperators, ['%', '!']);
    for (const s of ['first.last', 'a.b.c.d', '1', 'x', '-', 'Ab9']) assert.equal(mailbox(`${s}@example.com`).local, s);
  });

  it('refuses leading, trailing and double dots', () => {
    assert.equal(refused('.a@example.com').reason, 'local part starts with a dot');
    assert.equal(refused('a.@example.com').reason, 'local part ends with a dot');
    assert.equal(refused('a..b@example.com').reason, 'two consecutive dots in the local part');
    assert.equal(refused('.@example.com').reason, 'local part starts with a dot');
  });

  it('refuses an empty local part', () => {
    assert.equal(refused('@example.com').reason, 'empty local part');
    assert.equal(refused('<@example.com>').reason, 'empty local part');
  });

  it('refuses specials outside quotes', () => {
    for (const ch of ['(', ')', ',', ':', ';', '<', '[', ']', '\\']) {
      assert.match(refused(`a${ch}b@example.com`).reason, /not allowed in an unquoted local part/, ch);
    }
    assert.equal(refused('a"b"@example.com').reason, 'quote inside an unquoted local part');
    assert.equal(refused('a."b"@example.com').reason, 'quote inside an unquoted local part');
  });

  it('refuses controls, NUL, CR, LF, TAB, DEL and spaces', () => {
    const cases: Array<[string, RegExp]> = [
      ['\u0000', /control character U\+0000/],
      ['\r', /control character U\+000D/],
      ['\n', /control character U\+000A/],
      ['\t', /control character U\+0009/],
      ['\u007f', /control character U\+007F/],
      ['\u0085', /control character U\+0085/],
      [' ', /^space outside quotes$/],
      ['\u00a0', /space character U\+00A0/],
      ['\u3000', /space character U\+3000/],
    ];
    for (const [ch, re] of cases) assert.match(refused(`a${ch}b@example.com`).reason, re, JSON.stringify(ch));
  });
});

describe('quoted local parts', () => {
  it('keeps the quotes in local and removes them in localUnquoted', () => {
    const m = mailbox('"a b"@example.com');
    assert.equal(m.local, '"a b"');
    assert.equal(m.localUnquoted, 'a b');
    assert.equal(m.quoted, true);
    assert.equal(m.address, '"a b"@example.com');
  });

  it('accepts specials and an empty quoted string', () => {
    assert.equal(mailbox('"(a),[b];<c>:d"@example.com').localUnquoted, '(a),[b];<c>:d');
    assert.equal(mailbox('"a..b."@example.com').localUnquoted, 'a..b.');
    const empty = mailbox('""@example.com');
    assert.equal(empty.local, '""');
    assert.equal(empty.localUnquoted, '');
  });

  it('undoes quoted-pair escapes', () => {
    assert.equal(mailbox('"a\\"b"@example.com').localUnquoted, 'a"b');
    assert.equal(mailbox('"a\\\\b"@example.com').localUnquoted, 'a\\b');
    assert.equal(mailbox('"\\a\\ \\~"@example.com').localUnquoted, 'a ~');
    assert.equal(mailbox('"a\\@b"@example.com').localUnquoted, 'a@b');
    assert.deepEqual(mailbox('"a\\@b"@example.com').routingOperators, ['@']);
  });

  it('refuses a backslash before anything but printable ASCII', () => {
    for (const s of ['"a\\\tb"@example.com', '"a\\\u0000"@example.com', '"a\\\u007f"@example.com', '"a\\é"@example.com']) {
      assert.equal(refused(s).reason, 'backslash must be followed by a printable ASCII character', JSON.stringify(s));
    }
  });

  it('refuses controls inside quotes', () => {
    for (const ch of ['\t', '\r', '\n', '\u0000', '\u007f', '\u009f']) {
      assert.match(refused(`"a${ch}b"@example.com`).reason, /control character/, JSON.stringify(ch));
    }
  });

  it('refuses unterminated or mixed quoting', () => {
    assert.equal(refused('"abc@example.com').reason, 'unterminated quoted string');
    assert.equal(refused('"abc\\"@example.com').reason, 'unterminated quoted string');
    assert.equal(refused('"abc\\').reason, 'unterminated quoted string');
    assert.equal(refused('"a"b@example.com').reason, 'local part continues after the closing quote');
    assert.equal(refused('"a"."b"@example.com').reason, 'local part continues after the closing quote');
    assert.equal(refused('"a"@"b"').reason, '"\\"" not allowed in domain');
  });

  it('lists every routing operator in a quoted local part, in a fixed order', () => {
    assert.deepEqual(mailbox('"a@b!c%d"@example.com').routingOperators, ['%', '!', '@']);
    assert.deepEqual(mailbox('"a b"@example.com').routingOperators, []);
  });

  it('an "@" inside quotes does not count as a second @', () => {
    assert.equal(mailbox('"a@b@c"@example.com').domain, 'example.com');
    assert.deepEqual(refused('"a@b"@c@example.com'), { reason: 'more than one @ outside quotes', routing: true });
  });
});

describe('domains', () => {
  it('lower-cases and strips one trailing dot', () => {
    assert.equal(mailbox('a@Mail.Example.COM.').domain, 'mail.example.com');
    assert.equal(mailbox('a@localhost').domain, 'localhost');
    assert.equal(mailbox('a@a-b.x1.example').domain, 'a-b.x1.example');
    assert.equal(mailbox('a@123.example').domain, '123.example');
    assert.equal(mailbox('a@x.y').domain, 'x.y');
  });

  it('the stored form ("given") loses the trailing dot the rules decided without, and keeps the rest as sent', () => {
    assert.equal(mailbox('<v@Ours.Example.>', WIRE).given, 'v@Ours.Example');
    assert.equal(mailbox('<"a b."@ours.example.>', WIRE).given, '"a b."@ours.example');
    assert.equal(mailbox('<@relay.example.:v@ours.example.>', WIRE).given, 'v@ours.example');
    assert.equal(mailbox('<v@ours.example>', WIRE).given, 'v@ours.example');
    assert.equal(mailbox('<v@[192.0.2.7]>', WIRE).given, 'v@[192.0.2.7]');
    assert.equal(mailbox('<ü@bücher.example.>', WIRE).given, 'ü@bücher.example');
  });

  it('refuses bad labels', () => {
    const cases: Array<[string, string | RegExp]> = [
      ['a@-a.example', 'domain label starts with a hyphen'],
      ['a@a-.example', 'domain label ends with a hyphen'],
      ['a@a..example', 'empty label in domain'],
      ['a@.example', 'empty label in domain'],
      ['a@example..', 'empty label in domain'],
      ['a@.', 'empty label in domain'],
      ['a@a_b.example', /"_" not allowed in domain/],
      ['a@a*b.example', /"\*" not allowed in domain/],
      ['a@a\u0000b.example', /control character U\+0000 in domain/],
      ['a@a\tb.example', /control character U\+0009 in domain/],
      ['a@a:25', /":" not allowed in domain/],
      ['a@1.2.3.4', /top-level domain label is all digits/],
      ['a@example.123', /top-level domain label is all digits/],
      ['a@[192.0.2.7', 'unterminated address literal'],
    ];
    for (const [s, want] of cases) {
      const r = refused(s);
      if (typeof want === 'string') assert.equal(r.reason, want, s);
      else assert.match(r.reason, want, s);
      assert.equal(r.routing, false, s);
    }
  });

  it('a label is at most 63 octets', () => {
    assert.equal(mailbox(`a@${'x'.repeat(63)}.example`).domain, `${'x'.repeat(63)}.example`);
    assert.equal(refused(`a@${'x'.repeat(64)}.example`).reason, 'domain label longer than 63 octets');
  });

  it('normaliseDomain lower-cases and strips exactly one dot', () => {
    assert.equal(normaliseDomain('Example.COM.'), 'example.com');
    assert.equal(normaliseDomain('example.com'), 'example.com');
    assert.equal(normaliseDomain('example.com..'), 'example.com.');
    assert.equal(normaliseDomain('MÜNCHEN.Example'), 'münchen.example');
    assert.equal(normaliseDomain(''), '');
  });

  it('isDomainName and checkDomain share the mailbox domain rules', () => {
    for (const d of ['example.com', 'example.com.', 'mx1', 'a-b.c', 'münchen.example', 'xn--mnchen-3ya.example']) assert.equal(isDomainName(d), true, d);
    for (const d of ['', '.', 'a..b', '-a.b', 'a b', 'a_b', '1.2.3.4', '[192.0.2.1]', 'a@b', 'xn--zz.example']) assert.equal(isDomainName(d), false, d);
    assert.deepEqual(checkDomain('Mail.Example.'), { ok: true, domain: 'mail.example', utf8: false });
    assert.deepEqual(checkDomain('Bücher.Example'), { ok: true, domain: 'bücher.example', utf8: true });
  });
});

describe('address literals', () => {
  it('accepts strict IPv4 dotted quads', () => {
    for (const ip of ['192.0.2.7', '0.0.0.0', '255.255.255.255', '10.0.0.1']) {
      const m = mailbox(`user@[${ip}]`);
      assert.equal(m.literal, ip);
      assert.equal(m.domain, `[${ip}]`);
      assert.equal(m.address, `user@[${ip}]`);
    }
  });

  it('refuses other IPv4 spellings', () => {
    for (const ip of ['010.1.2.3', '1.2.3.04', '00.1.2.3', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.300', '1..2.3', '0x1.2.3.4', ' 1.2.3.4', '1.2.3.4 ', '-1.2.3.4', '1.2.3.', 'a.b.c.d']) {
      assert.equal(refused(`user@[${ip}]`).reason, 'invalid IPv4 address literal', ip);
    }
    assert.equal(isStrictIPv4('010.1.2.3'), false);
    assert.equal(isStrictIPv4('10.1.2.3'), true);
  });

  it('accepts IPv6 with a case-insensitive tag, written in lower case', () => {
    const cases: Array<[string, string]> = [
      ['IPv6:2001:db8::1', '2001:db8::1'],
      ['ipv6:::1', '::1'],
      ['IPV6:2001:DB8::ABCD', '2001:db8::abcd'],
      ['IPv6:::ffff:192.0.2.1', '::ffff:192.0.2.1'],
      ['IPv6:2001:0db8:0000:0000:0000:0000:0000:0001', '2001:0db8:0000:0000:0000:0000:0000:0001'],
    ];
    for (const [text, ip] of cases) {
      const m = mailbox(`<user@[${text}]>`);
      assert.equal(m.literal, ip, text);
      assert.equal(m.domain, `[ipv6:${ip}]`, text);
    }
  });

  it('refuses bad IPv6 literals', () => {
    for (const text of ['IPv6:2001:db8::g', 'IPv6:1.2.3.4', 'IPv6:', 'IPv6:2001:db8:::1', 'IPv6:::ffff:010.1.2.3', 'IPv6: ::1']) {
      assert.equal(refused(`user@[${text}]`).reason, 'invalid IPv6 address literal', text);
    }
    assert.equal(refused('user@[IPv6:fe80::1%eth0]').reason, 'IPv6 zone id not allowed in an address literal');
    assert.equal(refused('user@[2001:db8::1]').reason, 'IPv6 address literal needs the "IPv6:" tag');
  });

  it('refuses other tags and malformed literals', () => {
    assert.equal(refused('user@[IPv4:192.0.2.1]').reason, 'unsupported address literal tag "IPv4"');
    assert.equal(refused('user@[x-tag:anything]').reason, 'unsupported address literal tag "x-tag"');
    assert.equal(refused('user@[a b:c]').reason, 'invalid address literal');
    assert.equal(refused('user@[]').reason, 'empty address literal');
    assert.equal(refused('user@[192.0.2.7]x').reason, 'text after the address literal');
    assert.equal(refused('user@[192.0.2.7]]').reason, 'text after the address literal');
    assert.equal(refused('user@x.[192.0.2.7]').routing, false);
    assert.equal(refused(`user@[${'1'.repeat(200)}]`).reason, 'invalid address literal');
  });
});

describe('source routes', () => {
  it('keeps every hop, normalised, and decides on the final mailbox', () => {
    const m = mailbox('<@A.example,@b.example.,@C.EXAMPLE:User@D.Example>');
    assert.deepEqual(m.sourceRoute, ['a.example', 'b.example', 'c.example']);
    assert.equal(m.local, 'User');
    assert.equal(m.domain, 'd.example');
    assert.equal(m.address, 'User@d.example');
    assert.deepEqual(mailbox('a@example.com').sourceRoute, []);
  });

  it('the final mailbox may still carry operators or a literal', () => {
    const m = mailbox(`@${OURS}:user%${VICTIM}@${OURS}`);
    assert.deepEqual(m.routingOperators, ['%']);
    assert.deepEqual(m.sourceRoute, [OURS]);
    const lit = mailbox('@a.example:"x y"@[192.0.2.1]');
    assert.equal(lit.literal, '192.0.2.1');
    assert.equal(lit.localUnquoted, 'x y');
  });

  it('refuses malformed routes', () => {
    const cases: Array<[string, string | RegExp]> = [
      ['<@a.example:>', 'missing mailbox after the source route'],
      ['<@a.example,b.example:u@d.example>', 'source route: every hop must start with "@"'],
      ['<@a.example,@:u@d.example>', 'source route: missing domain'],
      ['<@:u@d.example>', 'source route: missing domain'],
      ['<@a.example,@b.example>', 'source route not ended by ":"'],
      ['<@a.example,>', 'source route: every hop must start with "@"'],
      ['<@[192.0.2.1]:u@d.example>', /^source route: "\[" not allowed in domain$/],
      ['<@a_b.example:u@d.example>', /^source route: "_" not allowed in domain$/],
      ['<@a.example:u>', 'missing domain'],
      ['<@a.example:@b.example>', 'empty local part'],
    ];
    for (const [s, want] of cases) {
      const r = refused(s);
      if (typeof want === 'string') assert.equal(r.reason, want, s);
      else assert.match(r.reason, want, s);
    }
  });

  it('an "@" with no route separator is two @ outside quotes', () => {
    assert.deepEqual(refused(`@${VICTIM}@${OURS}`), { reason: 'more than one @ outside quotes', routing: true });
  });
});

describe('length limits', () => {
  it('local part: 64 octets as given', () => {
    assert.equal(mailbox(`${'a'.repeat(64)}@example.com`).local.length, 64);
    assert.equal(refused(`${'a'.repeat(65)}@example.com`).reason, 'local part longer than 64 octets');
    // The quotes count: the limit is on the local part as written.
    assert.equal(mailbox(`"${'a'.repeat(62)}"@example.com`).localUnquoted.length, 62);
    assert.equal(refused(`"${'a'.repeat(63)}"@example.com`).reason, 'local part longer than 64 octets');
    // Octets, not characters.
    assert.equal(mailbox(`${'é'.repeat(32)}@example.com`).utf8, true);
    assert.equal(refused(`${'é'.repeat(32)}a@example.com`).reason, 'local part longer than 64 octets');
    assert.equal(refused(`${'a'.repeat(65)}`).reason, 'local part longer than 64 octets');
    assert.equal(refused(`${'%'.repeat(65)}@example.com`).routing, true);
  });

  it('domain: 255 octets', () => {
    const d255 = domainOfLength(255);
    const d256 = domainOfLength(256);
    assert.equal(d255.length, 255);
    assert.equal(d256.length, 256);
    assert.equal(isDomainName(d255), true);
    assert.equal(isDomainName(`${d255}.`), true);
    assert.equal(isDomainName(d256), false);
    assert.deepEqual(checkDomain(d256), { ok: false, reason: 'domain longer than 255 octets' });
    assert.equal(refused(`a@${d256}`).reason, 'domain longer than 255 octets');
    // A 255-octet domain is legal on its own but cannot fit in a 256-octet path.
    assert.equal(refused(`a@${d255}`).reason, 'path longer than 256 octets');
    const u = `${'é'.repeat(20)}.${domainOfLength(215)}`; // 40 + 1 + 215 = 256 octets, 236 characters
    assert.equal(checkDomain(u).ok, false);
    assert.match((checkDomain(u) as { reason: string }).reason, /domain longer than 255 octets/);
  });

  it('path: 256 octets including the brackets', () => {
    const local = 'a'.repeat(64);
    const ok = `<${local}@${domainOfLength(189)}>`;
    const long = `<${local}@${domainOfLength(190)}>`;
    assert.equal(ok.length, 256);
    assert.equal(long.length, 257);
    assert.equal(mailbox(ok).domain.length, 189);
    assert.equal(refused(long).reason, 'path longer than 256 octets');
    // A bare address is measured as if it had its brackets.
    assert.equal(mailbox(ok.slice(1, -1)).local, local);
    assert.equal(refused(long.slice(1, -1)).reason, 'path longer than 256 octets');
    // Non-ASCII counts in octets.
    const utf = `<${'é'.repeat(32)}@${domainOfLength(189)}>`;
    assert.equal(Buffer.byteLength(utf), 256);
    assert.equal(mailbox(utf).utf8, true);
    assert.equal(refused(`<${'é'.repeat(32)}@${domainOfLength(190)}>`).reason, 'path longer than 256 octets');
  });

  it('path: the source route counts too', () => {
    const at = (n: number) => `<@${domainOfLength(n)}:u@example.com>`;
    assert.equal(at(239).length, 256);
    assert.deepEqual(mailbox(at(239)).sourceRoute, [domainOfLength(239)]);
    assert.equal(refused(at(240)).reason, 'path longer than 256 octets');
    assert.equal(refused(`<@a.example:u%v@${domainOfLength(240)}>`).routing, true);
  });
});

describe('UTF-8 (RFC 6531)', () => {
  it('accepts non-ASCII in dot-strings, quoted strings and domains', () => {
    const a = mailbox('josé@example.com');
    assert.equal(a.utf8, true);
    assert.equal(a.local, 'josé');
    const b = mailbox('"José Ñ"@example.com');
    assert.equal(b.utf8, true);
    assert.equal(b.localUnquoted, 'José Ñ');
    const c = mailbox('用户@例子.广告');
    assert.equal(c.utf8, true);
    assert.equal(c.domain, '例子.广告');
    const d = mailbox('😀.x@example.com');
    assert.equal(d.local, '😀.x');
    assert.equal(d.utf8, true);
  });

  it('ASCII everywhere means no SMTPUTF8', () => {
    assert.equal(mailbox('a@example.com').utf8, false);
    assert.equal(mailbox('"a b"@[192.0.2.1]').utf8, false);
    assert.equal(mailbox('a@xn--mnchen-3ya.example').utf8, false);
  });

  it('a U-label in the domain or the source route needs SMTPUTF8', () => {
    const m = mailbox('a@MÜNCHEN.example');
    assert.equal(m.domain, 'münchen.example');
    assert.equal(m.utf8, true);
    const r = mailbox('@bücher.example:a@example.com');
    assert.deepEqual(r.sourceRoute, ['bücher.example']);
    assert.equal(r.utf8, true);
  });

  it('refuses labels IDNA does not accept as written', () => {
    for (const d of ['ｅｘａｍｐｌｅ.com', 'a\u00adb.example', 'ä\u00ad.example', 'a\u0308.example', 'a\u3002b.example', 'xn--zz.example', '-ä.example']) {
      assert.equal(refused(`a@${d}`).routing, false, JSON.stringify(d));
      assert.equal(isDomainName(d), false, JSON.stringify(d));
    }
  });

  it('refuses lone surrogates and non-ASCII controls', () => {
    assert.equal(refused('a\ud800@example.com').reason, 'unpaired UTF-16 surrogate in the local part');
    assert.equal(refused('a\udc00b@example.com').reason, 'unpaired UTF-16 surrogate in the local part');
    assert.equal(refused('"a\ud800"@example.com').reason, 'unpaired UTF-16 surrogate in the local part');
    assert.equal(refused('a@ex\ud800ample.com').reason, 'unpaired UTF-16 surrogate in domain');
    assert.match(refused('a@ex\u0085ample.com').reason, /control character U\+0085 in domain/);
  });
});

describe('the routing flag on refusals', () => {
  it('is set when the local part plainly carries an operator', () => {
    assert.deepEqual(refused('user%victim'), { reason: 'missing domain', routing: true });
    assert.deepEqual(refused('a!b'), { reason: 'missing domain', routing: true });
    assert.deepEqual(refused('"a@b"'), { reason: 'missing domain', routing: true });
    assert.equal(refused('user%victim@exa mple.com').routing, true);
    assert.equal(refused('user%victim..x@example.com').routing, true);
    assert.equal(refused('"a@b"x@example.com').routing, true);
    assert.equal(refused('us er@victim@ours').routing, true);
    assert.equal(refused('a@@example.com').routing, true);
  });

  it('is clear for other errors', () => {
    assert.equal(refused('user').routing, false);
    assert.equal(refused('a b@example.com').routing, false);
    assert.equal(refused('a@bad_domain.example').routing, false);
    assert.equal(refused('<>').routing, false);
    assert.equal(refused('"unterminated').routing, false);
  });
});

describe('hostile input', () => {
  const garbage: Array<[string, string]> = [
    ['quotes', '"'.repeat(100_000)],
    ['backslashes', '\\'.repeat(100_000)],
    ['quote-backslash pairs', '"\\'.repeat(50_000)],
    ['nested quotes', '"'.repeat(50_000) + 'a@b' + '"'.repeat(50_000)],
    ['open brackets', '<'.repeat(100_000)],
    ['bracketed brackets', '<'.repeat(50_000) + '>'.repeat(50_000)],
    ['at signs', '@'.repeat(100_000)],
    ['dots', '.'.repeat(100_000)],
    ['long local part', 'a'.repeat(100_000) + '@example.com'],
    ['long quoted local part', '"' + 'a '.repeat(50_000) + '"@example.com'],
    ['long domain', 'a@' + 'b.'.repeat(50_000) + 'com'],
    ['long U-label domain', 'a@' + 'ä'.repeat(100_000)],
    ['long label', 'a@' + 'b'.repeat(100_000)],
    ['many hops', '<' + '@a.example,'.repeat(9_000) + '@b.example:u@c.example>'],
    ['hops without end', '@a,'.repeat(33_000)],
    ['long literal', 'a@[' + '1.'.repeat(50_000) + '1]'],
    ['long IPv6 literal', 'a@[IPv6:' + '1:'.repeat(50_000) + ':1]'],
    ['repeated quoted strings', '"a"'.repeat(33_000) + '@example.com'],
    ['NULs', '\u0000'.repeat(100_000)],
    ['surrogates', '\ud83d'.repeat(100_000)],
  ];
  for (const [name, s] of garbage) {
    it(`refuses ${name} without throwing`, () => {
      for (const opts of [undefined, WIRE, { allowNull: true }]) {
        const r = parsePath(s, opts);
        assert.equal(r.ok, false, name);
        if (!r.ok) assert.equal(typeof r.reason, 'string');
        const wrapped = parsePath(`<${s}>`, opts);
        assert.equal(wrapped.ok, false, name);
      }
    });
  }

  it('refuses a non-string without throwing', () => {
    for (const v of [undefined, null, 42, {}, ['a@b.example']]) {
      const r = parsePath(v as unknown as string);
      assert.equal(r.ok, false);
    }
    assert.equal(isDomainName(undefined as unknown as string), false);
  });

  it('random strings: never throws, and an accepted address parses again to itself', () => {
    let seed = 0x2545f491;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const pieces = ['a', 'B', '0', '.', '@', '"', '\\', '%', '!', '<', '>', '[', ']', ':', ',', ' ', '-', 'é', '\ud83d', '\ude00', 'IPv6:', '::1', '192.0.2.1', 'example.com', 'postmaster', '\t', '\u0000', 'xn--'];
    let accepted = 0;
    for (let n = 0; n < 5000; n++) {
      let s = '';
      const len = rand(14);
      for (let i = 0; i < len; i++) s += pieces[rand(pieces.length)];
      const r = parsePath(s, { allowNull: rand(2) === 0 });
      assert.equal(typeof r.ok, 'boolean');
      if (!r.ok) {
        assert.equal(typeof r.reason, 'string');
        assert.equal(typeof r.routing, 'boolean');
        continue;
      }
      if (r.kind !== 'mailbox') continue;
      accepted++;
      const m = r.mailbox;
      assert.equal(m.address, `${m.local}@${m.domain}`);
      const again = mailbox(`<${m.address}>`);
      assert.equal(again.address, m.address, s);
      assert.deepEqual(again.routingOperators, m.routingOperators, s);
      assert.equal(again.domain, m.domain, s);
    }
    assert.ok(accepted > 0, 'the generator produced at least one valid address');
  });
});
