// The open-relay guard (ARCHITECTURE.md rule 8) of settings validation: how
// much of the public Internet the relay rights (relaying.allowed_hosts) and
// the trusted PROXY senders (listeners[].trusted_proxies, which can claim a
// relay host's address) cover. Half of it or more is an open relay, refused
// unless acknowledged (proxies that wide never pass); a wide right draws a
// warning. validate.ts asks it; the daemon, the CLI and the API show its
// reasons.

import { at, type Findings } from './issues.ts';
import { ANY, type Settings } from './document.ts';
import type { NetworkIndex } from '../objects/networks.ts';
import { IPV4_SPACE, IPV6_GLOBAL, publicCount, type IpRange } from '../objects/ip.ts';

/** Relay rights beyond this many public addresses draw a warning. */
const WIDE_V4 = 1n << 16n;
const WIDE_V6 = 1n << 80n;
/** From half of the public Internet on, a relay right is an open relay. */
const OPEN_V4 = publicCount([IPV4_SPACE], 4) / 2n;
const OPEN_V6 = publicCount([IPV6_GLOBAL], 6) / 2n;

interface Width {
  readonly v4: bigint;
  readonly v6: bigint;
}

function widthOf(ranges: readonly IpRange[]): Width {
  return { v4: publicCount(ranges, 4), v6: publicCount(ranges, 6) };
}

/** Half or more of the public Internet of either family: rule 8's "open". */
const isHalf = (w: Width): boolean => w.v4 >= OPEN_V4 || w.v6 >= OPEN_V6;
/** More than 65,536 public IPv4 addresses or a /48 of public IPv6: rule 8's "wide". */
const isWide = (w: Width): boolean => w.v4 > WIDE_V4 || w.v6 > WIDE_V6;
const describeWidth = (w: Width): string => (w.v4 > WIDE_V4 ? `${w.v4} public IPv4 addresses` : 'more than a /48 of public IPv6 addresses');

function knownRanges(names: readonly string[], networks: NetworkIndex): IpRange[] {
  return names.filter((n) => networks.has(n)).flatMap((n) => networks.ranges(n));
}

/** The trusted proxies of each listener (resolved), and of all listeners together. */
function proxyRanges(s: Settings, networks: NetworkIndex): { each: IpRange[][]; all: IpRange[] } {
  const each = s.listeners.map((l) => knownRanges(l.trusted_proxies, networks));
  return { each, all: each.flat() };
}

/**
 * A trusted proxy chooses the client address every rule sees: it can claim to
 * be a relay host, an upstream host (whose mail skips the spam checks) or any
 * address outside the blacklist. Proxies covering half the Internet are
 * refused whatever the relay rights are, and the open-relay acknowledgement
 * does not excuse them: it accepts that strangers relay, not that every
 * address rule loses its meaning. Wide ones draw a warning here, or count as
 * an open relay (checkOpenRelay) when some address has a relay right.
 */
export function checkProxyWidth(s: Settings, networks: NetworkIndex, f: Findings): void {
  const { each, all } = proxyRanges(s, networks);
  const hostRelay = knownRanges(s.relaying.allowed_hosts, networks).length > 0;
  let reported = false;
  each.forEach((ranges, i) => {
    const w = widthOf(ranges);
    const p = at(at('listeners', i), 'trusted_proxies');
    if (isHalf(w)) {
      reported = true;
      f.error(p, 'trusting PROXY headers from half or more of the Internet would let any client claim any address, including a relay host\'s; name only your proxies');
    } else if (isWide(w) && !hostRelay) {
      f.warn(p, `${describeWidth(w)} may send a PROXY header and so choose the client address every rule sees (an upstream host's, or one outside the blacklist); name only your proxies`);
    }
  });
  if (!reported && isHalf(widthOf(all))) {
    f.error('listeners', 'together the trusted_proxies of the listeners cover half or more of the Internet: any client could claim any address, including a relay host\'s; name only your proxies');
  }
}

/** One reason rule 8 finds the relay open, with the setting it is about. */
export interface OpenRelayReason {
  readonly path: string;
  readonly why: string;
  readonly via: 'allowed_hosts' | 'trusted_proxies';
  /** The proxies alone cover half the Internet: refused whatever the acknowledgement says. */
  readonly half?: boolean;
}

/**
 * Why the relay rights make an open relay (rule 8): entries of allowed_hosts
 * that match Any or half or more of the public Internet, alone or together;
 * and, when some address has a relay right, trusted proxies wider than a relay
 * host may be (a proxy can claim a relay host's address). Empty: not open.
 */
export function openRelayFindings(s: Settings, networks: NetworkIndex): OpenRelayReason[] {
  const r = s.relaying;
  const open: OpenRelayReason[] = [];
  r.allowed_hosts.forEach((n, i) => {
    if (!networks.has(n)) return;
    const w = widthOf(networks.ranges(n));
    const why = n === ANY ? `"${ANY}" matches every address` : isHalf(w) ? `"${n}" covers ${w.v4 >= OPEN_V4 ? 'half or more of the IPv4 Internet' : 'half or more of the IPv6 Internet'}` : null;
    if (why) open.push({ path: at('relaying.allowed_hosts', i), why, via: 'allowed_hosts' });
  });
  const allowed = knownRanges(r.allowed_hosts, networks);
  if (open.length === 0 && isHalf(widthOf(allowed))) {
    // Several entries that are harmless alone can cover the Internet together.
    open.push({ path: 'relaying.allowed_hosts', why: 'together the entries cover half or more of the Internet', via: 'allowed_hosts' });
  }
  return [...open, ...proxyRelayReasons(s, networks, allowed)];
}

/** openRelayFindings as "path: why" lines, for the dashboard and the messages. */
export function openRelayReasons(s: Settings, networks: NetworkIndex): string[] {
  return openRelayFindings(s, networks).map((o) => `${o.path}: ${o.why}`);
}

/**
 * The proxy path: with any relay host, a client that may send a PROXY header
 * can claim that host's address and relay. A proxy range is therefore judged
 * as a relay right it grants without saying so, and more strictly than an
 * allowed_hosts entry: what allowed_hosts only warns about (more than 65,536
 * public addresses) is an open relay here, since nobody who writes a proxy
 * range means to let that many clients relay.
 */
function proxyRelayReasons(s: Settings, networks: NetworkIndex, allowed: readonly IpRange[]): OpenRelayReason[] {
  if (allowed.length === 0) return [];
  const { each, all } = proxyRanges(s, networks);
  const out: OpenRelayReason[] = [];
  each.forEach((ranges, i) => {
    const w = widthOf(ranges);
    if (!isWide(w)) return;
    const names = (s.listeners[i]?.trusted_proxies ?? []).filter((n) => networks.has(n)).map((n) => `"${n}"`);
    const much = isHalf(w) ? 'half or more of the Internet' : describeWidth(w);
    out.push({ path: at(at('listeners', i), 'trusted_proxies'), why: `${names.join(', ')} ${names.length === 1 ? 'lets' : 'let'} ${much} send a PROXY header, which can claim a relay host's address`, via: 'trusted_proxies', half: isHalf(w) });
  });
  if (out.length > 0) return out;
  const w = widthOf(all);
  if (isWide(w)) {
    out.push({ path: 'listeners', why: `together the trusted_proxies of the listeners let ${isHalf(w) ? 'half or more of the Internet' : describeWidth(w)} send a PROXY header, which can claim a relay host's address`, via: 'trusted_proxies', half: isHalf(w) });
  } else if (all.length > 0 && isHalf(widthOf([...allowed, ...all])) && !isHalf(widthOf(allowed))) {
    out.push({ path: 'listeners', why: 'relay hosts and trusted proxies (which can claim a relay host\'s address) together cover half or more of the Internet', via: 'trusted_proxies' });
  }
  return out;
}

export function checkOpenRelay(s: Settings, networks: NetworkIndex, f: Findings): void {
  const r = s.relaying;
  r.allowed_hosts.forEach((n, i) => {
    if (!networks.has(n)) return;
    const w = widthOf(networks.ranges(n));
    if (n !== ANY && !isHalf(w) && isWide(w)) {
      f.warn(at('relaying.allowed_hosts', i), `"${n}" gives relay rights to ${describeWidth(w)}; relay hosts should be your own mail servers and clients`);
    }
  });
  const open = openRelayFindings(s, networks);
  if (open.length === 0) {
    if (r.open_relay_acknowledged) f.warn('relaying.open_relay_acknowledged', 'set, but the relay is not open; remove it so that a future mistake is still caught');
    return;
  }
  const hosts = open.filter((o) => o.via === 'allowed_hosts');
  if (hosts.length > 0) {
    const detail = hosts.map((o) => `${o.path}: ${o.why}`).join('; ');
    if (r.open_relay_acknowledged) {
      f.warn('relaying.allowed_hosts', `OPEN RELAY: anyone on the Internet can send mail through this relay (${detail}). Spammers find open relays within hours and your address will be blacklisted.`);
    } else {
      f.error('relaying.allowed_hosts', `this would make an open relay: anyone on the Internet could send mail through it (${detail}). Name only your own mail servers and networks; if you really want an open relay, also set relaying.open_relay_acknowledged: true`);
    }
  }
  // Proxies over half the Internet are already refused by checkProxyWidth, acknowledged or not.
  for (const o of open.filter((x) => x.via === 'trusted_proxies' && x.half !== true)) {
    if (r.open_relay_acknowledged) {
      f.warn(o.path, `OPEN RELAY through trusted proxies: ${o.why}, so every client there can relay (acknowledged by relaying.open_relay_acknowledged).`);
    } else {
      f.error(o.path, `this would make an open relay: ${o.why}, so every client there could relay to anywhere. Trust only your own proxies (while relaying.allowed_hosts names any host: at most 65,536 public IPv4 addresses and a /48 of public IPv6); if you really want this, also set relaying.open_relay_acknowledged: true`);
    }
  }
}
