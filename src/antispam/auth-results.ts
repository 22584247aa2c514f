// Our Authentication-Results field (RFC 8601): the checks of the end of DATA
// each add their method's result (spf, dkim, dmarc, arc) to the Additions,
// and the field is written once, for our authserv-id (the host name), with
// every result in it: one field per receiver is what readers expect, and it
// keeps SPF's result next to the DMARC verdict that used it.

/** One method's result, as a check found it. */
export interface AuthPart {
  readonly method: 'spf' | 'dkim' | 'dmarc' | 'arc';
  /** pass, fail, none, temperror, ... */
  readonly result: string;
  /** The resinfo as it goes into the field: "spf=pass (comment) smtp.mailfrom=example.com". */
  readonly info: string;
  /** The domain the result is about (SPF: the checked domain; DKIM: d=), when there is one. */
  readonly domain?: string;
}

/**
 * The folded field, or null without results. Each result on its own line,
 * and each property of a result too, so that a long comment (an SPF
 * explanation, a DKIM b= tag) never makes one overlong line.
 */
export function authResultsField(authservId: string, parts: readonly AuthPart[]): string | null {
  if (parts.length === 0) return null;
  const lines = parts.map((p) => p.info.replace(/\s+/g, ' ').trim().replace(/ ((?:smtp|header|policy)\.[a-z-]+=)/g, '\r\n\t$1'));
  return `Authentication-Results: ${authservId};\r\n\t${lines.join(';\r\n\t')}`;
}
