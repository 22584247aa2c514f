// Formatting for tables: times, sizes, values in diffs, delivery errors.

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The time alone for today, else the date and the time to the minute. */
export function fmtShort(iso: string | null | undefined): string {
  const full = fmtTime(iso);
  if (!iso || !full.includes(' ')) return full;
  const today = fmtTime(new Date().toISOString()).slice(0, 10);
  return full.startsWith(today) ? full.slice(11) : full.slice(0, 16);
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

/** A value of a diff or a log field, short and on one line. */
export function fmtValue(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return JSON.stringify(v);
  return JSON.stringify(v);
}

/** An age in seconds, in the two largest units: "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function fmtAge(s: number): string {
  if (s < 60) return `${Math.max(0, Math.floor(s))} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** "<>" for the null sender. */
export function fmtSender(s: string): string {
  return s === '' ? '<>' : s;
}

/** What Node's socket error codes mean, for an administrator; `$1` is the address when the message gives one. */
const SOCKET_ERRORS: readonly (readonly [RegExp, (addr: string | undefined) => string])[] = [
  [/\bECONNREFUSED\b(?:\s+(\S+))?/, (a) => `connection refused${a ? ` by ${a}` : ''}`],
  [/\bECONNRESET\b(?:\s+(\S+))?/, (a) => `connection reset by ${a ?? 'the server'}`],
  [/\bEHOSTUNREACH\b(?:\s+(\S+))?/, (a) => `host ${a ?? ''} unreachable`.replace('  ', ' ')],
  [/\bENETUNREACH\b(?:\s+(\S+))?/, (a) => `no route to ${a ?? 'the server'} (network unreachable)`],
  [/\bENOTFOUND\b(?:\s+(\S+))?/, (a) => `${a ? `host name ${a}` : 'the host name'} not found in DNS`],
  [/\bEAI_AGAIN\b(?:\s+(\S+))?/, (a) => `DNS did not answer for ${a ?? 'the host name'} (try again later)`],
  [/connect ETIMEDOUT\b(?:\s+(\S+))?/, (a) => `no answer from ${a ?? 'the server'} (connection timed out)`],
  [/Greeting never received/i, () => 'the server sent no greeting (timed out)'],
  [/^ETIMEDOUT\b/, () => 'the server stopped answering (timed out)'],
];

/** The library codes (ESOCKET, ECONNECTION…) that name nothing an administrator needs. */
const LIBRARY_CODE = /^(?:ESOCKET|ECONNECTION|EPROTOCOL|EENVELOPE|EMESSAGE|ESTREAM|EAUTH|ETLS|ETIMEDOUT|EDNS|ERROR): /;

/**
 * A delivery's last error in plain words: "ESOCKET: connect ECONNREFUSED
 * 192.0.2.1:25" becomes "connection refused by 192.0.2.1:25". A server's own
 * reply (with its SMTP code) is kept as it is: it is already the words to read.
 */
export function plainDeliveryError(text: string): string {
  const last = /^(.*?last error: )(.*)$/s.exec(text);
  if (last) return `${last[1]}${plainDeliveryError(last[2]!)}`;
  if (/^[245]\d\d[\s-]/.test(text)) return text;
  for (const [re, say] of SOCKET_ERRORS) {
    const m = re.exec(text);
    if (m) return say(m[1]?.replace(/[,;.]$/, ''));
  }
  return text.replace(LIBRARY_CODE, '');
}
