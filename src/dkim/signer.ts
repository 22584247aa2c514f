// DKIM signing of one message at the commit (src/smtp/receive-message.ts):
// the message as it will be stored, i.e. with the header edit of the checks
// (scan headers, subject tag) applied exactly as the queue store applies it,
// is signed with mailauth, and the DKIM-Signature field joins the edit's
// additions (added on top, outside what it signs). What is signed is the
// message as it leaves us: every delivery sends it through LineLimit
// (src/delivery/line-limit.ts folds lines over 998 octets), so the signer
// hashes that same limited form; the stored copy keeps its long lines and
// is limited identically at each delivery (LineLimit is deterministic and
// leaves our short DKIM-Signature lines as they are). Nothing here runs when
// no key is configured: the caller asks wantsSigning() first.

import { pipeline, Readable } from 'node:stream';
import { LineLimit } from '../delivery/line-limit.ts';
import type { DkimKeyDef, DkimSettings } from '../config/document.ts';
import { editHeaders, splitFields, type HeaderEdit } from '../scan/header-edit.ts';
import type { MessageSource } from '../scan/spam-verdict.ts';
import { fromAddresses } from '../checks/header-from.ts';
import { chooseKeys } from './choose.ts';
import { loadPrivateKey, signingDomain } from './keys.ts';

/**
 * The window in which the stores (spool.ts, pg/queue-store.ts) apply a header
 * edit in full: a header section ending past it only gets additions there, so
 * it is not signed here rather than signed as something else than is stored.
 */
const HEAD_MAX = 256 * 1024;

export type SignResult =
  | { signed: true; field: string; domain: string; selectors: string[] }
  | { signed: false; reason: string; domain?: string; detail?: string };

let mailauth: Promise<typeof import('mailauth/lib/dkim/sign.js')> | null = null;

/** Keys read once per settings revision (the object is the revision's), PEM text or the load error. */
const loaded = new WeakMap<DkimSettings, Map<DkimKeyDef, { pem: string } | { error: string }>>();

function keyOf(dkim: DkimSettings, def: DkimKeyDef): { pem: string } | { error: string } {
  let m = loaded.get(dkim);
  if (!m) loaded.set(dkim, (m = new Map()));
  let k = m.get(def);
  if (!k) {
    try {
      k = { pem: loadPrivateKey(def).export({ format: 'pem', type: 'pkcs8' }).toString() };
    } catch (err) {
      k = { error: err instanceof Error ? err.message : String(err) };
    }
    m.set(def, k);
  }
  return k;
}

const NO_EDIT: HeaderEdit = { add: [], remove: [], subjectTag: null };

/** Signs `source` as it will be after `edit`; never throws (a failure is an unsigned result with its reason). */
export async function signMessage(dkim: DkimSettings, eligible: boolean, source: MessageSource, edit: HeaderEdit | undefined): Promise<SignResult> {
  let it: AsyncIterator<Buffer> | null = null;
  try {
    it = source.chunks()[Symbol.asyncIterator]();
    const parts: Buffer[] = [];
    let got = 0;
    let ended = false;
    while (got < HEAD_MAX) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      parts.push(r.value);
      got += r.value.length;
    }
    const all = Buffer.concat(parts, got);
    const head = all.subarray(0, HEAD_MAX);
    const over = all.subarray(head.length);
    const complete = ended && got <= HEAD_MAX;
    const hasEnd = head.subarray(0, 2).toString('latin1') === '\r\n' || head.indexOf('\r\n\r\n') >= 0;
    if (!hasEnd && !complete) return { signed: false, reason: 'header_too_large' };
    const { out, replaced } = editHeaders(head, edit ?? NO_EDIT, complete);
    const edited = Buffer.concat([out, head.subarray(replaced)]);
    const endAt = edited.indexOf('\r\n\r\n');
    const section = (endAt >= 0 ? edited.subarray(0, endAt + 2) : edited).toString('utf8');
    const choice = chooseKeys(dkim, eligible, fromAddresses(section), fromFieldCount(section));
    if (!choice.sign) return { signed: false, reason: choice.reason, ...(choice.domain ? { domain: choice.domain } : {}) };
    const signatureData = [];
    for (const def of choice.keys) {
      const k = keyOf(dkim, def);
      if ('error' in k) return { signed: false, reason: 'key_error', domain: choice.domain, detail: `${def.selector}._domainkey.${def.domain}: ${k.error}` };
      signatureData.push({ signingDomain: signingDomain(def), selector: def.selector, privateKey: k.pem, algorithm: def.algorithm, canonicalization: 'relaxed/relaxed' });
    }
    async function* message(): AsyncGenerator<Buffer> {
      yield edited;
      if (over.length) yield over;
      for (;;) {
        const r = await it!.next();
        if (r.done) return;
        yield r.value;
      }
    }
    mailauth ??= import('mailauth/lib/dkim/sign.js');
    const { dkimSign } = await mailauth;
    // mailauth signs with every entry of signatureData; its typings also want the first one's fields at the top.
    const first = signatureData[0] ?? { signingDomain: '', selector: '', privateKey: '' };
    // The bytes the couriers send: the limit applied to the stored form (see the header comment).
    const limited = new LineLimit();
    pipeline(Readable.from(message()), limited, () => undefined);
    const res = await dkimSign(limited, { signingDomain: first.signingDomain, selector: first.selector, privateKey: first.privateKey, canonicalization: 'relaxed/relaxed', headerList: dkim.headers, signatureData });
    if (res.errors?.length || !res.signatures) {
      const e = res.errors?.[0] as { err?: Error } | undefined;
      return { signed: false, reason: 'sign_error', domain: choice.domain, detail: e?.err?.message ?? 'no signature made' };
    }
    // Each field ends with CRLF; the edit adds its own line ends.
    const field = res.signatures.replace(/\r\n$/, '');
    return { signed: true, field, domain: choice.domain, selectors: choice.keys.map((k) => k.selector) };
  } catch (err) {
    return { signed: false, reason: 'sign_error', detail: err instanceof Error ? err.message : String(err) };
  } finally {
    // A source left half read (no key, or an error) would keep its file open until collected.
    await it?.return?.().catch(() => undefined);
  }
}

/** How many From fields the header section holds, whatever their content. */
export function fromFieldCount(section: string): number {
  let n = 0;
  for (const f of splitFields(section.endsWith('\r\n') ? section : `${section}\r\n`)) {
    const colon = f.indexOf(':');
    if (colon >= 0 && f.slice(0, colon).trim().toLowerCase() === 'from') n++;
  }
  return n;
}

/** The edit with the signature on top of its additions. */
export function withSignature(edit: HeaderEdit | undefined, field: string): HeaderEdit {
  const e = edit ?? NO_EDIT;
  return { ...e, add: [field, ...e.add] };
}
