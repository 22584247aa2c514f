// Shared pieces of the relay-policy transcript tests: build a snapshot from a
// YAML-shaped settings object, make clients, and describe a decision as one
// transcript row.

import assert from 'node:assert/strict';
import { validate } from '../../src/config/validate.ts';
import { compileSnapshot, type Snapshot } from '../../src/config/snapshot.ts';
import { parseClient } from '../../src/checks/explain.ts';
import type { Client } from '../../src/policy/rules.ts';
import type { Decision } from '../../src/core/decision.ts';

/** Validates `doc` (which must be free of errors) and compiles it. */
export function snapshotOf(doc: unknown): Snapshot {
  const v = validate(doc);
  assert.deepEqual(v.errors, [], 'the settings of this test must validate');
  return compileSnapshot(v.settings, 1, v.networks);
}

export function client(text: string): Client {
  return parseClient(text);
}

/** The wire-visible part of a decision plus the rule, for table comparison. */
export interface Row {
  action: string;
  code: number;
  enhanced: string;
  kind: string | null;
  stage: string;
  rule: string;
}

export function row(d: Decision): Row {
  return { action: d.action, code: d.code, enhanced: d.enhanced, kind: d.kind, stage: d.stage, rule: d.rule };
}

/** Literal expectations in compact form: "accept 250 2.1.5 relay rcpt rule 4". */
export function expect(spec: string): Row {
  const [action, code, enhanced, kind, stage, ...rule] = spec.split(' ');
  assert.ok(action && code && enhanced && kind && stage && rule.length > 0, `bad expectation "${spec}"`);
  return { action, code: Number(code), enhanced, kind: kind === '-' ? null : kind, stage, rule: rule.join(' ') };
}

export const FROM = 'sender@sender.example';

/** The three relay switches the transcript tables vary. */
export interface Knobs {
  upstreamOnly: boolean;
  authRelay: boolean;
  hostRelay: boolean;
}

/**
 * The settings most tables run on. Object names are deliberately unusual so
 * that a reply text naming one of them is caught.
 *
 *   192.0.2.10     upstream host ("isp-feeder")
 *   198.51.100.10  upstream host inside the blacklist ("feeder-in-blackzone")
 *   10.1.0.0/16    relay hosts when hostRelay ("office-lan")
 *   198.51.100.20  relay host inside the blacklist when hostRelay ("relay-in-blackzone")
 *   198.51.100.0/24 blacklist ("blackzone")
 *   alice: named in authenticated relay; gina: member of the named group "staff";
 *   bob: member of "interns", not named; dave: named and in "staff" but disabled.
 *   Local domains: ours.example, Second.Example.
 */
export function relayDoc(k: Knobs): Record<string, unknown> {
  return {
    hostname: 'mx.ours.example',
    listeners: [
      { name: 'port25-listener', address: '127.0.0.1', port: 2525, mode: 'mx' },
      { name: 'port587-listener', address: '127.0.0.1', port: 2587, mode: 'submission' },
    ],
    networks: [
      { name: 'isp-feeder', type: 'host', address: '192.0.2.10' },
      { name: 'feeder-in-blackzone', type: 'host', address: '198.51.100.10' },
      { name: 'office-lan', type: 'network', address: '10.1.0.0/16' },
      { name: 'relay-in-blackzone', type: 'host', address: '198.51.100.20' },
      { name: 'blackzone', type: 'network', address: '198.51.100.0/24' },
    ],
    groups: [{ name: 'staff' }, { name: 'interns' }],
    users: [
      { name: 'alice', password: 'pw-alice', groups: [] },
      { name: 'gina', password: 'pw-gina', groups: ['staff'] },
      { name: 'bob', password: 'pw-bob', groups: ['interns'] },
      { name: 'dave', password: 'pw-dave', groups: ['staff'], enabled: false },
    ],
    domains: [
      { name: 'ours.example', route: { hosts: ['10.1.0.25:25'] } },
      { name: 'Second.Example', route: { hosts: ['10.1.0.26:25'] } },
    ],
    relaying: {
      upstream_hosts: ['isp-feeder', 'feeder-in-blackzone'],
      upstream_only: k.upstreamOnly,
      authenticated_relay: { enabled: k.authRelay, users: ['alice', 'dave'], groups: ['staff'] },
      allowed_hosts: k.hostRelay ? ['office-lan', 'relay-in-blackzone'] : [],
      blacklist: ['blackzone'],
      scan_relayed: true,
      open_relay_acknowledged: false,
    },
  };
}

/** Every internal name used by relayDoc: none may appear in a reply text. */
export const INTERNAL_NAMES = [
  'isp-feeder', 'feeder-in-blackzone', 'office-lan', 'relay-in-blackzone', 'blackzone',
  'staff', 'interns', 'alice', 'gina', 'bob', 'dave', 'port25-listener', 'port587-listener',
];

export function assertNoInternalNames(d: Decision, names: readonly string[] = INTERNAL_NAMES): void {
  for (const n of names) assert.ok(!d.text.toLowerCase().includes(n.toLowerCase()), `reply text ${JSON.stringify(d.text)} names the internal object "${n}"`);
}
