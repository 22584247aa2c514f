// Splits the argument of MAIL FROM / RCPT TO into the path, exactly as the
// client sent it (brackets, quotes and source route kept), and its ESMTP
// parameters. It does not judge the path: src/address/path.ts and the relay
// rules do, so that every refusal of an address is decided, logged and counted
// in one place. Pure: no I/O.

export interface AddressCommand {
  /** The path token as sent, e.g. `<"john doe"@example.com>`; '' when none was given. */
  path: string;
  /** Parameters by upper-case keyword; `true` for a keyword without a value; false when there are none. */
  args: Record<string, string | true> | false;
  /** A keyword given twice (the library's command handler refuses it). */
  duplicate?: string;
  /** Why a parameter was dropped (control characters after xtext decoding). */
  paramError?: string;
  /**
   * The first parameter the listener does not offer, as sent (printable
   * ASCII, cut): the handler answers 555 5.5.4 (RFC 5321 4.1.1.11). It is
   * left out of `args`, so the library never acts on it (REQUIRETLS, say).
   */
  unsupported?: string;
}

/** The EHLO extensions that bring MAIL/RCPT parameters, as this session announces them. */
export interface Offered {
  /** AUTH is offered (RFC 4954 5: then MAIL FROM may carry AUTH=). */
  auth: boolean;
  size: boolean;
  eightBitMime: boolean;
  smtputf8: boolean;
  /** RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT. */
  dsn: boolean;
}

/**
 * The parameters we implement, by command: those of the extensions our EHLO
 * announces. REQUIRETLS is never announced, so it is never among them.
 */
export function supportedParameters(name: string, offered: Offered): ReadonlySet<string> {
  const out: string[] = [];
  if (/^mail/i.test(name)) {
    if (offered.size) out.push('SIZE');
    if (offered.eightBitMime) out.push('BODY');
    if (offered.smtputf8) out.push('SMTPUTF8');
    if (offered.dsn) out.push('RET', 'ENVID');
    if (offered.auth) out.push('AUTH');
  } else if (offered.dsn) out.push('NOTIFY', 'ORCPT');
  return new Set(out);
}

/** A token as it may be echoed in a reply and a log line. */
function shown(token: string): string {
  const s = token.replace(/[^\x21-\x7e]/g, '?');
  return s.length > 64 ? `${s.slice(0, 64)}...` : s;
}

const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const SPACE = /\s/;

/** xtext (RFC 3461 4): "+" and two upper-case hex digits stand for one octet. */
function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * The end of the path token that starts at `from`: the first whitespace
 * outside a quoted string. A quoted local part may hold spaces
 * (`<"john doe"@example.com>`); an unterminated quote runs to the end, and the
 * path parser then refuses it.
 */
function pathEnd(text: string, from: number): number {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charAt(i);
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && SPACE.test(c)) return i;
  }
  return text.length;
}

/**
 * `line` is the whole command line ("MAIL FROM:<a@b> SIZE=10"); `name` the
 * command ("MAIL FROM"). Returns null when the line is not that command at
 * all (no colon, another verb). With `supported`, any other keyword (and any
 * text after the path that is no parameter at all, such as a second path) is
 * reported in `unsupported`.
 */
export function splitAddressCommand(name: string, line: string, supported?: ReadonlySet<string>): AddressCommand | null {
  const colon = line.indexOf(':');
  if (colon < 0) return null;
  const verb = line.slice(0, colon).trim().replace(/\s+/g, ' ').toUpperCase();
  if (verb !== name.toUpperCase()) return null;
  let start = colon + 1;
  // "MAIL FROM: <a@b>" is common enough (and harmless) to allow.
  while (start < line.length && SPACE.test(line.charAt(start))) start++;
  const end = pathEnd(line, start);
  const out: AddressCommand = { path: line.slice(start, end), args: false };
  const args: Record<string, string | true> = {};
  let any = false;
  for (const param of line.slice(end).split(/\s+/)) {
    if (param === '') continue;
    const eq = param.indexOf('=');
    const key = (eq < 0 ? param : param.slice(0, eq)).toUpperCase();
    if (key === '' || (supported !== undefined && !supported.has(key))) {
      out.unsupported ??= shown(param);
      continue;
    }
    let value: string | true = true;
    if (eq >= 0) {
      value = decodeXtext(param.slice(eq + 1));
      // CRLF smuggled through xtext (ENVID=a+0D+0Ab) would reach logs and headers.
      if (CONTROL.test(value)) {
        out.paramError = `control character in the ${key} parameter`;
        continue;
      }
      if (value === '') value = true;
    }
    if (key in args) out.duplicate = key;
    args[key] = value;
    any = true;
  }
  if (any) out.args = args;
  return out;
}
