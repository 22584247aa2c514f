// How a next hop's answer becomes the fate of each recipient: 2xx delivered,
// 4xx and every connection or TLS failure deferred, 5xx failed. Pure.

export type Fate = 'delivered' | 'deferred' | 'failed';

export interface RecipientOutcome {
  address: string;
  fate: Fate;
  /** The reply code, or null when there was no reply (connection trouble). */
  code: number | null;
  /** RFC 3463 status: from the reply when it has one, else derived. */
  status: string;
  /** What to tell the sender and the log: the reply line, or the local reason. */
  diagnostic: string;
  /** "name [ip]:port" of the host that answered, when one did. */
  remote: string | null;
}

const ENHANCED = /^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/;

export function fateOf(code: number): Fate {
  if (code >= 200 && code < 300) return 'delivered';
  if (code >= 500 && code < 600) return 'failed';
  return 'deferred';
}

/** The enhanced status of a reply, or the generic one for its class. */
export function statusOf(code: number | null, reply: string): string {
  const m = ENHANCED.exec(reply);
  if (m?.[1] && m[1][0] === String(code ?? 0)[0]) return m[1];
  if (code === null) return '4.4.1';
  const cls = String(code)[0];
  // Only 2, 4 and 5 are RFC 3463 classes; anything else is treated as temporary.
  return cls === '2' || cls === '5' ? `${cls}.0.0` : '4.0.0';
}

/** One reply for every recipient of a transaction (MAIL refused, DATA refused, connection lost). */
export function allRecipients(addresses: readonly string[], code: number | null, reply: string, remote: string | null, fate: Fate = code === null ? 'deferred' : fateOf(code)): RecipientOutcome[] {
  const status = statusOf(code, reply);
  return addresses.map((address) => ({ address, fate, code, status, diagnostic: reply, remote }));
}

/** Fields smtp-connection puts on its errors. */
export interface SmtpClientError extends Error {
  code?: string;
  /** The code of the error underneath (Node's, e.g. DEPTH_ZERO_SELF_SIGNED_CERT). */
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  rejectedErrors?: SmtpClientError[];
  recipient?: string;
  /** Set by outbound.ts: the error ended a TLS handshake under way (after the 220 to STARTTLS). */
  duringHandshake?: boolean;
}

/** The one-line text of a client error: the server's reply when there was one. */
export function errorText(err: SmtpClientError): string {
  if (err.response) return err.response.split(/\r?\n/).join(' ').slice(0, 500);
  return `${err.code ?? 'ERROR'}: ${cleanText(err.message)}`.slice(0, 500);
}

// Advice Node.js appends for whoever runs node ("if the root CA is installed
// locally, try running Node.js with --use-system-ca"): it means nothing to a
// mail administrator, less to a sender reading a bounce, and names our runtime.
const NODE_HINTS: RegExp[] = [
  /[;,.]?\s*if the root CA is installed locally,[^;]*?--use-system-ca\.?/gi,
  /[;,.]?\s*(?:please )?(?:try|consider) (?:running|restarting|starting) (?:node|Node\.js)\b[^;]*/gi,
  /[;,.]?\s*[^;.]*--use-(?:system|bundled|openssl)-ca\b[^;.]*\.?/gi,
  /\s*\(Use `node --trace-[^)]*\)/gi,
];

/** A message without Node's hints, on one line. */
export function cleanText(s: string): string {
  let out = s;
  for (const re of NODE_HINTS) out = out.replace(re, '');
  return out.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The text of anything thrown, cleaned, for a log line or a notification. */
export function cleanError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return cleanText(text).slice(0, 500) || 'unknown error';
}

// Node's certificate verification codes (X509_V_ERR_* names and the altname check).
const CERT_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY|DECRYPT)|CHAIN_TOO_LONG|INVALID_CA|PATH_LENGTH|HOSTNAME_MISMATCH|ALTNAME/;

/** A TLS peer whose certificate failed our check: RFC 3463 X.7.5 (cryptographic failure), not a connection problem. */
export function isCertificateError(err: SmtpClientError): boolean {
  return CERT_CODE.test(err.originalCode ?? '') || CERT_CODE.test(err.code ?? '');
}
