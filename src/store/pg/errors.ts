// What the cluster store's callers need without loading the client library:
// a URL without its password, and whether an error means the database could
// not be reached. Kept apart from connect.ts so that the single node (the
// API's error handler, choosing the store) never loads postgres.js.

const URL_PARTS = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is;

/**
 * The secrets a store URL carries: the password of its user-info part (up to
 * the last "@" of the authority, so that an unencoded "@" in a password does
 * not leave its tail behind) and any `password=` query parameter.
 */
export function urlSecrets(url: string): string[] {
  const m = URL_PARTS.exec(url);
  if (!m) return [];
  const authority = m[2] ?? '';
  const out: string[] = [];
  const at = authority.lastIndexOf('@');
  const colon = at >= 0 ? authority.slice(0, at).indexOf(':') : -1;
  if (colon >= 0 && at > colon + 1) out.push(authority.slice(colon + 1, at));
  for (const q of (m[3] ?? '').matchAll(/[?&]password=([^&#]*)/gi)) if (q[1]) out.push(q[1]);
  return out;
}

/** The URL without its password (user-info or query), for logs and errors. */
export function redactUrl(url: string): string {
  const m = URL_PARTS.exec(url);
  if (!m) return url;
  let authority = m[2] ?? '';
  const at = authority.lastIndexOf('@');
  const colon = at >= 0 ? authority.slice(0, at).indexOf(':') : -1;
  if (colon >= 0) authority = `${authority.slice(0, colon + 1)}***${authority.slice(at)}`;
  return `${m[1]}${authority}${(m[3] ?? '').replace(/([?&]password=)[^&#]*/gi, '$1***')}`;
}

/** Whether an error means the database could not be reached (as opposed to a refused statement). */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; errno?: string } | null;
  const code = e?.code ?? '';
  if (['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'QUERY_TIMEOUT', 'QUEUE_TIMEOUT'].includes(code)) return true;
  // Class 57: the server is shutting down or restarting; 08: connection exceptions. 25006 (a write refused as
  // read-only): the pool reached a standby, so no primary answers (a failover under way, or a URL without
  // target_session_attrs=primary).
  return code.startsWith('57P') || code.startsWith('08') || code === '25006';
}
