// Which counter a client address falls in for the per-client limits
// (connections, failed logins). An IPv4 address is one client. An IPv6 client
// is its network of limits.ipv6_prefix bits (default /64): a host or a
// customer is given a whole /64 and may take a new address from it for every
// connection, so counting single IPv6 addresses would limit nobody.

import { formatIp, parseIp } from './ip.ts';

/** The key per-client counters use: the address itself (IPv4, or IPv6 with prefix 128), else "net/prefix". */
export function clientBucket(client: string, ipv6Prefix: number): string {
  if (ipv6Prefix >= 128 || !client.includes(':')) return client;
  const ip = parseIp(client);
  if (!ip.ok || ip.family === 4) return ip.ok ? formatIp(ip.value) : client;
  const hostBits = BigInt(128 - Math.max(0, Math.floor(ipv6Prefix)));
  return `${formatIp((ip.value >> hostBits) << hostBits)}/${128 - Number(hostBits)}`;
}
