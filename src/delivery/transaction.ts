// What one transaction owes the next hop, decided from the stored envelope and
// the extensions the hop announced in its EHLO reply. Pure.
//
// - DSN (RFC 3461 §5.2): a hop that announces DSN gets RET and ENVID on MAIL
//   and each recipient's NOTIFY and ORCPT on its RCPT; from then on success
//   reports are the hop's business. A recipient that came without ORCPT gets
//   ORCPT=rfc822;<the address as we received it> (as Postfix does, RFC 3461
//   §4.2 allows it): the final report then names the address the sender
//   used, even where we send another form (A-labels, a bare postmaster).
// - SMTPUTF8 (RFC 6531): an address whose local part is not ASCII cannot be
//   written any other way, so without SMTPUTF8 at the hop it fails with
//   5.6.7 (the sender's: every recipient; a recipient's: that one), as
//   Postfix does. A non-ASCII domain with an ASCII local part is sent in
//   A-labels when the transaction does not use SMTPUTF8. A message received
//   with SMTPUTF8 goes out with it to a hop that announces it.
// - 8BITMIME (RFC 6152): an 8-bit message to a hop without it must be
//   converted (src/delivery/downgrade.ts scans and converts; bodyVerdict()
//   below decides from the scan).
// - UTF-8 header fields (RFC 6532) of a message received with SMTPUTF8 need
//   SMTPUTF8 at the hop too: without it, 5.6.7 (as Postfix does).

import { domainToASCII } from 'node:url';
import type { ScanResult } from './downgrade.ts';
import type { RecipientOutcome } from './outcome.ts';

/** The extensions of a hop that matter here. */
export interface HopExtensions {
  dsn: boolean;
  smtputf8: boolean;
  eightBitMime: boolean;
}

export interface TransactionInput {
  sender: string;
  /** As received: SMTPUTF8 on MAIL, BODY=8BITMIME. */
  smtputf8: boolean;
  eightBit: boolean;
  dsn: { ret: 'FULL' | 'HDRS' | null; envid: string | null } | undefined;
  recipients: {
    /** The address as received (stored in the envelope). */
    received: string;
    /** The address to send it as (a bare postmaster gets a domain). */
    sendAs: string;
    notify?: readonly string[] | undefined;
    orcpt?: string | undefined;
  }[];
}

export type RecipientPlan = { ok: true; address: string; params: string[] } | { ok: false; outcome: Omit<RecipientOutcome, 'address'> };

export interface TransactionPlan {
  /** The sender as sent; null when it cannot be sent (every recipient then has a refusal). */
  from: string | null;
  mailParams: string[];
  /** SMTPUTF8 on MAIL. */
  smtputf8: boolean;
  /** The body must be converted to 7 bit before it goes (the hop lacks 8BITMIME). */
  downgrade: boolean;
  /** The message must be scanned (scan8Bit) and judged by bodyVerdict() before it goes. */
  scan: boolean;
  /** In the order of the input. */
  recipients: RecipientPlan[];
}

const nonAscii = (s: string) => /[^\x00-\x7f]/.test(s);

/** RFC 3461 §4: xtext ("+" and "=" and anything outside ! to ~ as +HH, byte by byte of UTF-8). */
export function xtext(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * RFC 6533 §3 utf-8-addr-xtext: ASCII graphic characters but "+", "=" and
 * "\" as they are, anything else as \x{HEX}. An \x{HEX} already in the text
 * (a client's own escape, kept through xtext decoding) stays as it is.
 */
export function utf8AddrXtext(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; ) {
    const escape = /^\\x\{[0-9A-Fa-f]{2,6}\}/.exec(s.slice(i, i + 10));
    if (escape) {
      out += escape[0];
      i += escape[0].length;
      continue;
    }
    const cp = s.codePointAt(i) ?? 0;
    const ch = String.fromCodePoint(cp);
    out += cp >= 0x21 && cp <= 0x7e && ch !== '+' && ch !== '=' && ch !== '\\' ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
    i += ch.length;
  }
  return out;
}

/** An ORCPT value ("type;address") as a parameter value. */
export function orcptParam(orcpt: string): string {
  const semi = orcpt.indexOf(';');
  const type = orcpt.slice(0, semi).trim();
  const value = orcpt.slice(semi + 1);
  return `${type};${type.toLowerCase() === 'utf-8' ? utf8AddrXtext(value) : xtext(value)}`;
}

/** ORCPT for an address received without one. */
export function defaultOrcpt(received: string): string {
  return nonAscii(received) ? `utf-8;${utf8AddrXtext(received)}` : `rfc822;${xtext(received)}`;
}

type AddressForm = { ok: true; address: string } | { ok: false; why: 'local' | 'domain' };

/** The address as it can be written in a transaction with or without SMTPUTF8. */
export function addressFor(address: string, smtputf8: boolean): AddressForm {
  if (smtputf8 || !nonAscii(address)) return { ok: true, address };
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  if (nonAscii(local)) return { ok: false, why: 'local' };
  const domain = address.slice(at + 1);
  const trailingDot = domain.endsWith('.') ? '.' : '';
  const ascii = domainToASCII(trailingDot ? domain.slice(0, -1) : domain);
  if (!ascii) return { ok: false, why: 'domain' };
  return { ok: true, address: `${local}@${ascii}${trailingDot}` };
}

const refusal = (status: string, diagnostic: string): RecipientPlan => ({ ok: false, outcome: { fate: 'failed', code: null, status, diagnostic, remote: null } });

export function planTransaction(input: TransactionInput, hop: HopExtensions): TransactionPlan {
  const smtputf8 = input.smtputf8 && hop.smtputf8;
  const mailParams: string[] = [];
  if (smtputf8) mailParams.push('SMTPUTF8');
  if (hop.dsn && input.dsn?.ret) mailParams.push(`RET=${input.dsn.ret}`);
  if (hop.dsn && input.dsn?.envid) mailParams.push(`ENVID=${xtext(input.dsn.envid)}`);
  const downgrade = input.eightBit && !hop.eightBitMime;
  // A message received with SMTPUTF8 may have UTF-8 header fields, which a hop without it cannot take.
  const scan = downgrade || (input.smtputf8 && !hop.smtputf8);

  const sender = addressFor(input.sender, smtputf8);
  if (!sender.ok) {
    const why =
      sender.why === 'local'
        ? `the sender address <${input.sender}> needs SMTPUTF8, which the next hop does not announce`
        : `the sender domain of <${input.sender}> cannot be written in A-labels`;
    return { from: null, mailParams, smtputf8, downgrade, scan, recipients: input.recipients.map(() => refusal('5.6.7', why)) };
  }
  const recipients = input.recipients.map((r): RecipientPlan => {
    const form = addressFor(r.sendAs, smtputf8);
    if (!form.ok) {
      return form.why === 'local'
        ? refusal('5.6.7', `the recipient address <${r.sendAs}> needs SMTPUTF8, which the next hop does not announce`)
        : refusal('5.1.2', `the recipient domain of <${r.sendAs}> cannot be written in A-labels`);
    }
    const params: string[] = [];
    if (hop.dsn) {
      if (r.notify?.length) params.push(`NOTIFY=${r.notify.join(',')}`);
      params.push(`ORCPT=${r.orcpt ? orcptParam(r.orcpt) : defaultOrcpt(r.received.includes('@') ? r.received : r.sendAs)}`);
    }
    return { ok: true, address: form.address, params };
  });
  return { from: sender.address, mailParams, smtputf8, downgrade, scan, recipients };
}

export type BodyVerdict = { kind: 'as-is' } | { kind: 'convert'; parts: Set<number> } | { kind: 'refuse'; status: string; reason: string };

/** What to do with a scanned message (plan.scan) for this hop. */
export function bodyVerdict(scan: ScanResult, input: Pick<TransactionInput, 'smtputf8' | 'eightBit'>, hop: HopExtensions): BodyVerdict {
  if (input.smtputf8 && !hop.smtputf8 && scan.headers8Bit) {
    return { kind: 'refuse', status: '5.6.7', reason: 'the message has UTF-8 header fields (RFC 6532), which need SMTPUTF8, and the next hop does not announce it' };
  }
  if (!input.eightBit || hop.eightBitMime) return { kind: 'as-is' };
  if (scan.headers8Bit) {
    // RFC 6531 X.6.9: "UTF-8 header message cannot be transferred".
    return { kind: 'refuse', status: '5.6.9', reason: 'a header field holds 8-bit octets, which cannot be sent to a next hop without 8BITMIME or re-encoded faithfully' };
  }
  if (!scan.body8Bit) return { kind: 'as-is' };
  if (scan.unconvertible) {
    // RFC 3463 X.6.3: conversion required but not supported.
    return { kind: 'refuse', status: '5.6.3', reason: `the next hop lacks 8BITMIME and the message cannot be converted: ${scan.unconvertible}` };
  }
  return { kind: 'convert', parts: scan.parts };
}
