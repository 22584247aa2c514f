// The relay rules (ARCHITECTURE.md rules 1-6 and 8's effect) as pure
// functions over a configuration snapshot and the facts of one SMTP
// transaction. No I/O: the SMTP front end, `policy explain` and the tests all
// ask the same functions. Everything no rule allows is refused.

import { accept, reject, type Decision, type RelayRight } from '../core/decision.ts';
import type { ListenerDef } from '../config/document.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { domainKey, parsePath, type PathResult } from '../address/path.ts';
import { localIdentity, type Identity } from './identity.ts';

export interface Client {
  /** The address in the 128-bit space of `objects/ip.ts`. */
  readonly ip: bigint;
  /** As written, for the trail. */
  readonly text: string;
}

/** What the client's address makes it, with the entry that matched each list. */
export interface ClientClass {
  readonly upstream: string | null;
  readonly relayHost: string | null;
  readonly blacklisted: string | null;
}

const RELAY_DENIED = 'Relaying denied';
const ACCESS_DENIED = 'Access denied';

export function classifyClient(snap: Snapshot, ip: bigint): ClientClass {
  return { upstream: snap.upstream.match(ip), relayHost: snap.allowed.match(ip), blacklisted: snap.blacklist.match(ip) };
}

function describeClass(client: Client, c: ClientClass): string[] {
  const t = [`client ${client.text}`];
  if (c.upstream) t.push(`client is an upstream host (relaying.upstream_hosts: ${c.upstream})`);
  if (c.relayHost) t.push(`client is a relay host (relaying.allowed_hosts: ${c.relayHost})`);
  if (c.blacklisted) t.push(`client is in the blacklist (relaying.blacklist: ${c.blacklisted})`);
  if (!c.upstream && !c.relayHost && !c.blacklisted) t.push('client matches no upstream, relay or blacklist entry');
  return t;
}

/** Rules 1 and 2: who may talk to us at all. */
export function decideConnect(snap: Snapshot, client: Client): Decision {
  const c = classifyClient(snap, client.ip);
  const trail = describeClass(client, c);
  const trusted = c.upstream !== null || c.relayHost !== null;
  if (c.blacklisted && !trusted) {
    trail.push('rule 1: blacklisted and neither upstream nor relay host: refused');
    return reject({ stage: 'connect', rule: 'rule 1', code: 554, enhanced: '5.7.1', text: ACCESS_DENIED, trail });
  }
  if (c.blacklisted) trail.push('rule 1: blacklisted, but an upstream or relay host entry allows it');
  if (snap.settings.relaying.upstream_only && !trusted) {
    trail.push('rule 2: upstream/relay hosts only, and the client is neither: refused');
    return reject({ stage: 'connect', rule: 'rule 2', code: 554, enhanced: '5.7.1', text: ACCESS_DENIED, trail });
  }
  const rule = snap.settings.relaying.upstream_only ? 'rule 2' : c.blacklisted ? 'rule 1' : 'rules 1-2';
  trail.push(
    rule === 'rule 2'
      ? 'rule 2: upstream/relay hosts only, and the client is one: connection accepted'
      : rule === 'rule 1'
        ? 'rule 1: connection accepted'
        : 'rules 1-2: not blacklisted, and connections are not limited to upstream/relay hosts: connection accepted',
  );
  return accept({ stage: 'connect', rule, code: 220, enhanced: '2.0.0', text: `${snap.settings.hostname} ESMTP`, trail });
}

/**
 * Whether an authenticated user may use this relay: Authenticated Relay on,
 * the user enabled, and named directly or through one of its groups. Called
 * after the password was verified; a refusal is 535 like a wrong password, so
 * that a client cannot tell which names exist.
 */
export function decideAuth(snap: Snapshot, who: Identity | string): Decision {
  // A bare name is a local user's (tests, `policy explain --user` offline).
  const user = typeof who === 'string' ? localIdentity(snap, who) : who;
  const userName = typeof who === 'string' ? who : who.name;
  const trail = [user?.directory ? `user "${userName}" (directory "${user.directory}")` : `user "${userName}"`];
  const ar = snap.settings.relaying.authenticated_relay;
  const refuse = (why: string) => {
    trail.push(why);
    return reject({ stage: 'auth', rule: 'rule 4', code: 535, enhanced: '5.7.8', text: 'Authentication credentials invalid', trail });
  };
  if (!user) return refuse('rule 4: no such user: refused');
  if (!user.enabled) return refuse('rule 4: user is disabled: refused');
  if (!ar.enabled) return refuse('rule 4: authenticated relay is off: refused');
  // Only a local user is named in the users list: a directory login that happens to share a local name gets nothing from it.
  if (user.directory === null && ar.users.includes(userName)) {
    trail.push(`rule 4: named in relaying.authenticated_relay.users: authenticated`);
    return accept({ stage: 'auth', rule: 'rule 4', code: 235, enhanced: '2.7.0', text: 'Authentication successful', trail });
  }
  const group = user.groups.find((g) => ar.groups.includes(g));
  if (group) {
    trail.push(`rule 4: member of group "${group}" named in relaying.authenticated_relay.groups: authenticated`);
    return accept({ stage: 'auth', rule: 'rule 4', code: 235, enhanced: '2.7.0', text: 'Authentication successful', trail });
  }
  return refuse('rule 4: neither the user nor any of its groups is named in authenticated relay: refused');
}

export interface TransactionFacts {
  readonly client: Client;
  readonly listener: ListenerDef | null;
  /** A user that passed decideAuth, or null. */
  readonly user: Identity | null;
}

/** The relay right a client holds, with the trail line that says why. */
export function relayRight(snap: Snapshot, facts: TransactionFacts): { right: RelayRight | null; why: string } {
  const host = snap.allowed.match(facts.client.ip);
  if (host) return { right: 'host', why: `host-based relay right (relaying.allowed_hosts: ${host})` };
  if (facts.user !== null && decideAuth(snap, facts.user).action === 'accept') {
    return { right: 'auth', why: `authenticated relay right (user "${facts.user.name}")` };
  }
  return { right: null, why: 'no relay right' };
}

/** MAIL FROM: the submission listener wants AUTH first; the path must parse. */
/** `parsed`: the caller's own parsePath() of the same text with the same options, so that a hot path parses once. */
export interface PathOpts {
  wire?: boolean;
  parsed?: PathResult;
}

export function decideSender(snap: Snapshot, facts: TransactionFacts, sender: string, opts: PathOpts = {}): Decision {
  const trail: string[] = [];
  if (facts.listener?.mode === 'submission' && facts.user === null) {
    trail.push(`listener "${facts.listener.name}" is a submission listener: AUTH is required before MAIL`);
    return reject({ stage: 'mail', rule: 'submission', code: 530, enhanced: '5.7.0', text: 'Authentication required', trail });
  }
  const p = opts.parsed ?? parsePath(sender, { allowNull: true, requireBrackets: opts.wire === true });
  if (!p.ok) {
    trail.push(`sender ${JSON.stringify(sender)}: ${p.reason}`);
    return reject({ stage: 'mail', rule: 'syntax', code: 501, enhanced: '5.1.7', text: 'Bad sender address syntax', trail });
  }
  trail.push(p.kind === 'null' ? 'sender <> (bounce)' : `sender ${p.kind === 'mailbox' ? p.mailbox.address : p.local}`);
  return accept({ stage: 'mail', rule: 'syntax', code: 250, enhanced: '2.1.0', text: 'Sender ok', trail });
}

/** RCPT TO: rules 3, 4, 5 and 6. */
export function decideRecipient(snap: Snapshot, facts: TransactionFacts, recipient: string, opts: PathOpts = {}): Decision {
  const trail: string[] = [];
  const { right, why } = relayRight(snap, facts);
  trail.push(why);
  const denied = (rule: string, line: string) => {
    trail.push(line);
    return reject({ stage: 'rcpt', rule, code: 554, enhanced: '5.7.1', text: RELAY_DENIED, trail });
  };

  const p = opts.parsed ?? parsePath(recipient, { allowNull: false, requireBrackets: opts.wire === true });
  if (!p.ok) {
    if (p.routing && right === null) return denied('rule 5', `rule 5: recipient ${JSON.stringify(recipient)} carries a routing operator (${p.reason}) and the client has no relay right: refused`);
    trail.push(`recipient ${JSON.stringify(recipient)}: ${p.reason}`);
    return reject({ stage: 'rcpt', rule: 'syntax', code: 501, enhanced: '5.1.3', text: 'Bad recipient address syntax', trail });
  }
  if (p.kind === 'postmaster') {
    trail.push('rule 6: <postmaster> without a domain is always accepted as local');
    return accept({ stage: 'rcpt', rule: 'rule 6', code: 250, enhanced: '2.1.5', text: 'Recipient ok', kind: 'inbound', trail });
  }
  if (p.kind !== 'mailbox') {
    trail.push('recipient <> is not an address');
    return reject({ stage: 'rcpt', rule: 'syntax', code: 501, enhanced: '5.1.3', text: 'Bad recipient address syntax', trail });
  }
  const m = p.mailbox;
  if (m.sourceRoute.length > 0) trail.push(`rule 5: source route ${m.sourceRoute.map((d) => '@' + d).join(',')} dropped; deciding on ${m.address}`);
  if (m.routingOperators.length > 0 && right === null) {
    return denied('rule 5', `rule 5: local part of ${m.address} carries routing operator ${m.routingOperators.map((o) => JSON.stringify(o)).join(', ')} and the client has no relay right: refused`);
  }
  if (m.literal === null && snap.localDomains.has(domainKey(m.domain))) {
    trail.push(`rule 3: ${m.domain} is a local domain: accepted as inbound`);
    return accept({ stage: 'rcpt', rule: 'rule 3', code: 250, enhanced: '2.1.5', text: 'Recipient ok', kind: 'inbound', trail });
  }
  if (right !== null) {
    trail.push(`rule 4: ${m.domain} is not local; relayed by ${right === 'host' ? 'host-based' : 'authenticated'} relay`);
    return accept({ stage: 'rcpt', rule: 'rule 4', code: 250, enhanced: '2.1.5', text: 'Recipient ok', kind: 'relay', trail });
  }
  return denied('rule 4', `rule 4: ${m.domain} is not local and the client has no relay right: refused`);
}
