// The signed links of the quarantine digest (issue 21): a compact, URL-safe
// token that lets whoever holds it do one thing to one recipient's share of
// one quarantined message until it expires, and nothing else. No login: the
// token is the authority, so it is signed (HMAC-SHA256 with a key derived from
// the store's signing secret, compared in constant time) and carries its
// action, message, address and expiry.
//
// Layout (before base64url): version (1) | action (1) | expiry, seconds since
// the epoch (4, big-endian) | queue id (16, ASCII) | address length (1) |
// address (UTF-8, at most 254) | HMAC-SHA256 of everything before it (32).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { QUEUE_ID } from '../queue/queue-id.ts';

export type LinkAction = 'release' | 'delete' | 'view';

export interface LinkClaims {
  action: LinkAction;
  /** The quarantined message's queue id. */
  id: string;
  /** The recipient the link was made for (lower-case). */
  address: string;
  /** Expiry, epoch ms (kept to the second). */
  exp: number;
}

export type LinkRefusal = 'malformed' | 'forged' | 'expired' | 'wrong action' | 'wrong message';

export type LinkCheck = { ok: true; claims: LinkClaims } | { ok: false; why: LinkRefusal };

const VERSION = 1;
const ACTIONS: readonly LinkAction[] = ['release', 'delete', 'view'];
const MAC_BYTES = 32;
const HEAD = 1 + 1 + 4 + 16 + 1;
/** Longer tokens are not looked at (an address has at most 254 octets). */
export const MAX_TOKEN_CHARS = Math.ceil(((HEAD + 254 + MAC_BYTES) * 4) / 3);

/**
 * The key for one use of the shared secret: the links and (PORTAL) the
 * portal's cookies each get their own, so that a value signed for one is
 * never valid for the other.
 */
export function deriveKey(secret: Buffer, purpose: string): Buffer {
  return createHmac('sha256', secret).update(`mailwarden ${purpose} v1`).digest();
}

export class LinkSigner {
  private readonly key: Buffer;

  /** `secret`: QuarantineStateStore.signingSecret(). */
  constructor(secret: Buffer) {
    if (secret.length < 16) throw new Error('the signing secret is too short');
    this.key = deriveKey(secret, 'quarantine link');
  }

  sign(c: LinkClaims): string {
    if (!QUEUE_ID.test(c.id)) throw new Error(`bad queue id ${c.id}`);
    const action = ACTIONS.indexOf(c.action);
    if (action < 0) throw new Error(`bad link action ${String(c.action)}`);
    const address = Buffer.from(c.address.toLowerCase(), 'utf8');
    if (address.length === 0 || address.length > 254) throw new Error('bad link address');
    const exp = Math.floor(c.exp / 1000);
    if (!Number.isInteger(exp) || exp < 0 || exp > 0xffffffff) throw new Error('bad link expiry');
    const body = Buffer.alloc(HEAD + address.length);
    body[0] = VERSION;
    body[1] = action;
    body.writeUInt32BE(exp, 2);
    body.write(c.id, 6, 16, 'ascii');
    body[22] = address.length;
    address.copy(body, HEAD);
    return Buffer.concat([body, this.mac(body)]).toString('base64url');
  }

  /**
   * Checks a token: well-formed, signed with this key, not expired at `now`,
   * and, when given, for `expect.action` and `expect.id`. The signature is
   * checked before anything the token says is believed.
   */
  verify(token: unknown, now: number, expect: { action?: LinkAction | readonly LinkAction[]; id?: string } = {}): LinkCheck {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) return { ok: false, why: 'malformed' };
    const raw = Buffer.from(token, 'base64url');
    if (raw.length < HEAD + 1 + MAC_BYTES) return { ok: false, why: 'malformed' };
    const body = raw.subarray(0, raw.length - MAC_BYTES);
    const mac = raw.subarray(raw.length - MAC_BYTES);
    if (!timingSafeEqual(mac, this.mac(body))) return { ok: false, why: 'forged' };
    // Signed by us: what follows only guards against our own older formats.
    if (body[0] !== VERSION || body[22] !== body.length - HEAD) return { ok: false, why: 'malformed' };
    const action = ACTIONS[body[1] ?? 255];
    const id = body.toString('ascii', 6, 22);
    if (!action || !QUEUE_ID.test(id)) return { ok: false, why: 'malformed' };
    const claims: LinkClaims = { action, id, address: body.toString('utf8', HEAD), exp: body.readUInt32BE(2) * 1000 };
    if (now >= claims.exp) return { ok: false, why: 'expired' };
    if (expect.action !== undefined && !(Array.isArray(expect.action) ? expect.action : [expect.action]).includes(action)) return { ok: false, why: 'wrong action' };
    if (expect.id !== undefined && expect.id !== id) return { ok: false, why: 'wrong message' };
    return { ok: true, claims };
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(body).digest();
  }
}
