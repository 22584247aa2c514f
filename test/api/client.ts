// A small HTTPS client for the API tests: checks the admin listener's
// certificate against the daemon's own (self-signed, with 127.0.0.1 in its
// names), keeps the session cookie and CSRF token of a login, and can play
// another client address (localAddress) for the login throttle.

import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { relayDoc, startRelay, type Relay } from '../smtp/harness.ts';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export interface Caller {
  cookie: string | null;
  csrf: string | null;
  token: string | null;
}

export class ApiClient {
  readonly port: number;
  readonly ca: Buffer;
  constructor(port: number, ca: Buffer) {
    this.port = port;
    this.ca = ca;
  }

  call(method: string, path: string, opts: { body?: unknown; raw?: string; as?: Partial<Caller>; localAddress?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    if (opts.as?.cookie) headers.cookie = opts.as.cookie;
    if (opts.as?.csrf) headers['x-csrf-token'] = opts.as.csrf;
    if (opts.as?.token) headers.authorization = `Bearer ${opts.as.token}`;
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.port, method, path, headers, ca: this.ca, localAddress: opts.localAddress ?? '127.0.0.1', timeout: 20_000 }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** Logs in and returns the caller (cookie and CSRF token). */
  async login(name: string, password: string, localAddress?: string): Promise<Caller & { answer: Answer }> {
    const a = await this.call('POST', '/api/login', { body: { name, password }, ...(localAddress ? { localAddress } : {}) });
    const set = a.headers['set-cookie'];
    const cookie = Array.isArray(set) ? (set[0] ?? '').split(';')[0] ?? null : null;
    return { cookie, csrf: a.json?.csrf ?? null, token: null, answer: a };
  }
}

/** A daemon with the admin listener on port 0 (its bound port from the "started" line), and the first admin's password from its stderr. */
export async function startWithApi(t: Parameters<typeof startRelay>[0], extra: Record<string, unknown> = {}): Promise<{ relay: Relay; api: ApiClient; password: string; adminPort: number }> {
  const { doc, ports } = await relayDoc({ admin: { enabled: true, address: '127.0.0.1', port: 0 }, ...extra });
  const relay = await startRelay(t, doc, ports);
  const adminPort = relay.adminPort ?? 0;
  await relay.waitLog((l) => l.event === 'admin.created');
  const password = await onStderr(relay, () => /with the password\n\n {4}(\S+)\n/.exec(relay.stderr())?.[1] ?? null);
  const ca = readFileSync(join(relay.dataDir, 'tls', 'cert.pem'));
  return { relay, api: new ApiClient(adminPort, ca), password, adminPort };
}

/** Resolves when `get` finds what it looks for in the daemon's stderr, checked at each new chunk. */
export function onStderr<T>(relay: Relay, get: () => T | null, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const err = relay.child.stderr;
    const timer = setTimeout(() => {
      err?.off('data', check);
      reject(new Error(`not on stderr within ${timeoutMs} ms: ${relay.stderr()}`));
    }, timeoutMs);
    function check(): void {
      const v = get();
      if (v === null) return;
      clearTimeout(timer);
      err?.off('data', check);
      resolve(v);
    }
    err?.on('data', check);
    check();
  });
}
