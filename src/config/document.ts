// The settings document: its TypeScript shape and its embedded defaults.
// One document holds every setting; `docs/configuration.md` describes it.
// The shape read from YAML/JSON is checked by `shape.ts`; references between
// objects and the relay safety rules are checked by `validate.ts`.

export type NetworkType = 'host' | 'network' | 'range' | 'group';
export type ListenerMode = 'mx' | 'submission' | 'smtps';
export type TlsPolicy = 'required' | 'opportunistic';

export interface NetworkDef {
  name: string;
  type: NetworkType;
  /** host: an address; network: address/prefix. */
  address?: string;
  /** range: first and last address. */
  from?: string;
  to?: string;
  /** group: names of other network objects. */
  members?: string[];
  comment?: string;
}

export interface GroupDef {
  name: string;
  comment?: string;
}

export interface UserDef {
  name: string;
  /** Only on input: hashed on import, never stored. */
  password?: string;
  /** scrypt hash as written by `objects/password.ts`. */
  password_hash?: string;
  groups: string[];
  enabled: boolean;
  comment?: string;
}

export interface DomainDef {
  name: string;
  route: { hosts: string[] };
}

export interface ListenerDef {
  name: string;
  address: string;
  port: number;
  mode: ListenerMode;
  /** Network objects allowed to send a PROXY protocol header. */
  trusted_proxies: string[];
}

export interface Relaying {
  upstream_hosts: string[];
  upstream_only: boolean;
  authenticated_relay: { enabled: boolean; users: string[]; groups: string[] };
  allowed_hosts: string[];
  blacklist: string[];
  scan_relayed: boolean;
  open_relay_acknowledged: boolean;
}

export interface Smarthost {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls: TlsPolicy;
}

export interface Settings {
  hostname: string;
  listeners: ListenerDef[];
  tls: { cert: string; key: string } | null;
  networks: NetworkDef[];
  groups: GroupDef[];
  users: UserDef[];
  domains: DomainDef[];
  relaying: Relaying;
  delivery: { smarthost: Smarthost | null };
  limits: { max_message_size: number; max_recipients: number };
}

/** The name of the built-in network object that matches every address. */
export const ANY = 'Any';

/**
 * What a fresh installation runs with: listeners on loopback only, and relay
 * rights for 127.0.0.1 alone. Nothing here can reach or serve the Internet.
 */
export function embeddedDefaults(): Settings {
  return {
    hostname: 'localhost',
    listeners: [
      { name: 'mx', address: '127.0.0.1', port: 2525, mode: 'mx', trusted_proxies: [] },
      { name: 'submission', address: '127.0.0.1', port: 2587, mode: 'submission', trusted_proxies: [] },
      { name: 'smtps', address: '127.0.0.1', port: 2465, mode: 'smtps', trusted_proxies: [] },
    ],
    tls: null,
    networks: [{ name: 'localhost', type: 'host', address: '127.0.0.1', comment: 'this machine' }],
    groups: [],
    users: [],
    domains: [],
    relaying: {
      upstream_hosts: [],
      upstream_only: false,
      authenticated_relay: { enabled: false, users: [], groups: [] },
      allowed_hosts: ['localhost'],
      blacklist: [],
      scan_relayed: true,
      open_relay_acknowledged: false,
    },
    delivery: { smarthost: null },
    limits: { max_message_size: 52_428_800, max_recipients: 100 },
  };
}
