// What the cluster store's callers need without loading the client library:
// a URL without its password, and whether an error means the database could
// not be reached. Kept apart from connect.ts so that the single node (the
// API's error handler, choosing the store) never loads postgres.js.

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  return url.replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

/** Whether an error means the database could not be reached (as opposed to a refused statement). */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; errno?: string } | null;
  const code = e?.code ?? '';
  if (['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'QUERY_TIMEOUT', 'QUEUE_TIMEOUT'].includes(code)) return true;
  // Class 57: the server is shutting down or restarting; 08: connection exceptions.
  return code.startsWith('57P') || code.startsWith('08');
}
