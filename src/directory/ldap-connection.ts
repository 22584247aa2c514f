// Connections to one directory over ldapts: TCP then StartTLS (ldap://), TLS
// from the start (ldaps://), or clear text where the settings allow it; the
// certificate checked against the system's CAs or the directory's `ca`, and
// the host name. Every step has the directory's `timeout`: ldapts bounds the
// TCP connect and each operation but not the StartTLS handshake, so each step
// here runs under a deadline that destroys the connection. Failures become a
// DirectoryUnavailable with the reason in an administrator's words.

import { readFile } from 'node:fs/promises';
import { connect as netConnect, isIP, Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client, ResultCodeError } from 'ldapts';
import type { DirectoryDef } from '../config/document.ts';
import { durationMs } from '../core/duration.ts';
import { DirectoryUnavailable } from './unavailable.ts';

export { DirectoryUnavailable };

/** Host and port of the directory's URL (validation made sure there is one). */
export function endpoint(def: DirectoryDef): { host: string; port: number } {
  const u = new URL(def.url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { host, port: u.port ? Number(u.port) : def.tls === 'ldaps' ? 636 : 389 };
}

class Deadline extends Error {}

/** `p`, or a Deadline error after `ms` (then `onTimeout` runs: it closes the connection). */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      onTimeout();
      fail(new Deadline('no answer in time'));
    }, ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function tlsOptions(def: DirectoryDef, host: string): Promise<ConnectionOptions> {
  const o: ConnectionOptions = { host, minVersion: 'TLSv1.2' };
  // SNI carries names only; an address is checked against the certificate's IP names.
  if (!isIP(host)) o.servername = host;
  if (def.ca !== undefined) {
    try {
      o.ca = [await readFile(def.ca, 'utf8')];
    } catch (err) {
      throw new DirectoryUnavailable(def.name, `the CA file ${def.ca} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  return o;
}

/** Destroys a client's connection without waiting for an answer (an unbind would wait for a dead server). */
export function drop(client: Client): void {
  // unbind() sends a request and waits; a directory that stopped answering would hold it up.
  void client.unbind().catch(() => {});
}

/** Connections whose socket closed (see `watch`). */
const closed = new WeakSet<Client>();

/** Whether a client's connection is still open (ldapts' own isConnected misses a TLS socket closing after StartTLS). */
export function isAlive(client: Client): boolean {
  return !closed.has(client);
}

type Connect = (...args: never[]) => Socket;

/**
 * The socket functions for one client: each socket's close marks the client
 * closed (after StartTLS, ldapts does not notice the TLS socket closing and
 * would write the next request into it and wait for its timeout), and the
 * first connection is the only one: ldapts reconnects by itself when a kept
 * connection was closed, and would then search in clear text (no StartTLS)
 * and unbound. A second call fails instead; the caller opens a new
 * connection the whole way.
 */
function watch(client: () => Client | undefined, connect: Connect, reconnectable: boolean): Connect {
  let used = false;
  return ((...args: never[]) => {
    if (used && !reconnectable) {
      const s = new Socket();
      process.nextTick(() => s.destroy(Object.assign(new Error('connection closed (not reopened: a new one is set up instead)'), { code: 'ECONNRESET' })));
      return s;
    }
    used = true;
    const s = connect(...args);
    s.once('close', () => {
      const c = client();
      if (c) closed.add(c);
    });
    return s;
  }) as Connect;
}

/**
 * A connected client, TLS set up as the settings say, not yet bound. Throws
 * DirectoryUnavailable (after closing what it opened) when any step fails.
 */
export async function openConnection(def: DirectoryDef): Promise<Client> {
  const ms = durationMs(def.timeout);
  const { host } = endpoint(def);
  const tls = def.tls === 'none' ? null : await tlsOptions(def, host);
  let client: Client | undefined;
  const self = () => client;
  const plain = watch(self, netConnect as unknown as Connect, false) as unknown as typeof netConnect;
  // ldaps: the first connection; starttls: the upgrade of the plain one (once per client too).
  const secure = watch(self, tlsConnect as unknown as Connect, false) as unknown as typeof tlsConnect;
  client = new Client({
    url: def.url,
    timeout: ms,
    connectTimeout: ms,
    createConnection: plain,
    createSecureConnection: secure,
    ...(def.tls === 'ldaps' && tls ? { tlsOptions: tls } : {}),
  });
  const c = client;
  try {
    if (def.tls === 'starttls' && tls) await withDeadline(c.startTLS(tls), ms, () => drop(c));
    return c;
  } catch (err) {
    drop(c);
    throw unavailable(def, err, 'connect');
  }
}

/** What went wrong, as a DirectoryUnavailable (one already is passes through). */
export function unavailable(def: DirectoryDef, err: unknown, step: 'connect' | 'service-bind' | 'search' | 'user-bind'): DirectoryUnavailable {
  if (err instanceof DirectoryUnavailable) return err;
  return new DirectoryUnavailable(def.name, describeFailure(def, err, step), { cause: err });
}

const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED']);

/** An LDAP client's failure in the words of the settings (host, ca, bind_dn, base_dn). */
export function describeFailure(def: DirectoryDef, err: unknown, step: 'connect' | 'service-bind' | 'search' | 'user-bind'): string {
  const { host, port } = endpoint(def);
  const e = err as NodeJS.ErrnoException & { code?: string | number; reason?: string };
  const msg = e instanceof Error ? e.message : String(err);
  if (err instanceof Deadline || /timed out|timeout/i.test(msg)) return `no answer from ${host}:${port} within ${def.timeout}`;
  if (typeof e.code === 'string') {
    if (e.code === 'ECONNREFUSED') return `nothing answers at ${host}:${port} (connection refused)`;
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return `the host name ${host} does not resolve`;
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return `${host}:${port} closed the connection${step === 'connect' ? ' while it was being set up' : ''}`;
    if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return `${host} cannot be reached (no route)`;
    if (UNTRUSTED.has(e.code)) return `the directory's certificate is not trusted (${e.code}): ${def.ca ? `it is not signed by the CA in ${def.ca}` : 'set ca to the PEM file of the CA that signed it'}`;
    if (e.code === 'CERT_HAS_EXPIRED') return 'the directory\'s certificate has expired';
    if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the directory's certificate is not for ${host} (${e.reason ?? msg})`;
    if (e.code.startsWith('ERR_SSL') || e.code.startsWith('ERR_TLS')) return `TLS with ${host}:${port} failed (${msg})`;
  }
  if (err instanceof ResultCodeError) {
    const text = msg.replace(/\s*Code: 0x[0-9a-f]+$/, '');
    switch (err.code) {
      case 2:
        return step === 'connect' ? `${host}:${port} does not offer StartTLS (${text}); use an ldaps:// URL` : `protocol error: ${text}`;
      case 13:
        return 'the directory requires TLS (confidentiality required): use tls starttls or an ldaps:// URL';
      case 32:
        return `base_dn "${def.base_dn}" does not exist in the directory, or the ${def.bind_dn ? 'account' : 'anonymous search'} may not see it`;
      case 34:
        return `a DN is not valid (${text})`;
      case 48:
      case 49:
        return step === 'service-bind' ? `the directory refused bind_dn "${def.bind_dn ?? ''}" and its password (${text})` : `the directory refused the credentials (${text})`;
      case 50:
        return `${def.bind_dn ? `bind_dn "${def.bind_dn}"` : 'an anonymous search'} may not search there (insufficient access)`;
      case 51:
      case 52:
        return `the directory is busy or unavailable (${text})`;
      case 53:
        return `the directory is unwilling to perform the ${step === 'search' ? 'search' : 'bind'} (${text})${def.bind_dn ? '' : '; anonymous searches are often refused: set bind_dn'}`;
      default:
        return `the directory answered: ${text}`;
    }
  }
  if (/Connection closed|Socket error|socket/i.test(msg)) return `${host}:${port} closed the connection`;
  return msg;
}
