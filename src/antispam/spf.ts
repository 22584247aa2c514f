// SPF (RFC 7208) with mailauth on the origin address and the MAIL FROM
// domain (the HELO name when the sender is <>), through the relay's own
// resolver (dns.servers) with a time limit. A DNS failure or a timeout is
// temperror: never a reason to refuse mail.

// mailauth (and what it pulls in) is loaded on the first SPF check only: a
// relay that does not check SPF does not carry it in memory.
let loaded: Promise<typeof import('mailauth/lib/spf/index.js')> | null = null;

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';

export interface SpfOutcome {
  result: SpfResult;
  /** The checked domain's explanation, as mailauth gives it. */
  comment: string;
  /** "spf=pass smtp.mailfrom=example.com" for Authentication-Results. */
  info: string;
  /** The Received-SPF header field, folded. */
  receivedSpf: string;
  /** The domain checked (the MAIL FROM domain, or the HELO name for <>): DMARC's SPF identifier. */
  domain: string;
}

export type TxtResolver = (name: string, rrtype: string) => Promise<unknown>;

export async function checkSpf(opts: { ip: string; sender: string; helo: string; hostname: string; resolver: TxtResolver; timeoutMs: number }): Promise<SpfOutcome> {
  loaded ??= import('mailauth/lib/spf/index.js');
  const { spf } = await loaded;
  const r = await spf({
    ip: opts.ip,
    sender: opts.sender,
    helo: opts.helo,
    mta: opts.hostname,
    resolver: opts.resolver as never,
    maxElapsedTime: opts.timeoutMs,
  });
  const status = r.status as { result: SpfResult; comment?: string };
  return { result: status.result, comment: status.comment ?? '', info: String(r.info ?? `spf=${status.result}`), receivedSpf: String(r.header ?? '').trimEnd(), domain: String(r.domain ?? '') };
}
