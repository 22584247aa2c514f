// The one DNS resolver of the relay: the servers of `dns.servers` when the
// settings name them (tests point it at a DNS server on loopback), else the
// system's. Answers are sorted into what routing needs: records, "no such
// records", "no such domain", or a temporary failure.

import { Resolver } from 'node:dns/promises';

export type Lookup<T> = { kind: 'ok'; value: T } | { kind: 'nodata' } | { kind: 'nxdomain' } | { kind: 'error'; reason: string };

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface Dns {
  mx(domain: string): Promise<Lookup<MxRecord[]>>;
  /** A then AAAA records of a name. */
  addresses(name: string): Promise<Lookup<string[]>>;
}

function sorted<T>(err: unknown): Lookup<T> {
  const code = (err as { code?: string }).code;
  if (code === 'ENODATA') return { kind: 'nodata' };
  if (code === 'ENOTFOUND') return { kind: 'nxdomain' };
  return { kind: 'error', reason: `${code ?? 'DNS error'}: ${(err as Error).message}` };
}

export function createDns(servers: readonly string[], timeoutMs = 5000): Dns {
  const r = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers.length) r.setServers([...servers]);
  return {
    async mx(domain) {
      try {
        return { kind: 'ok', value: (await r.resolveMx(domain)).map((m) => ({ exchange: m.exchange, priority: m.priority })) };
      } catch (err) {
        return sorted(err);
      }
    },
    async addresses(name) {
      const [v4, v6] = await Promise.allSettled([r.resolve4(name), r.resolve6(name)]);
      const out = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
      if (out.length) return { kind: 'ok', value: out };
      const first = v4.status === 'rejected' ? sorted<string[]>(v4.reason) : { kind: 'nodata' as const };
      const second = v6.status === 'rejected' ? sorted<string[]>(v6.reason) : { kind: 'nodata' as const };
      // A temporary failure of either family outweighs "no records" of the other.
      if (first.kind === 'error') return first;
      if (second.kind === 'error') return second;
      if (first.kind === 'nxdomain' || second.kind === 'nxdomain') return { kind: 'nxdomain' };
      return { kind: 'nodata' };
    },
  };
}
