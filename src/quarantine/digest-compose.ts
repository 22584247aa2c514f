// One recipient's quarantine digest as a message (issue 21): a text and an
// HTML part listing each quarantined message (sender, subject, reason, date)
// with its release and delete links, composed with nodemailer's
// mail-composer. At most DIGEST_MAX entries; the rest are counted in a line
// at the end. Pure but for the composer's own Message-ID and Date.

import MailComposer from 'nodemailer/lib/mail-composer';
import type { RecipientQuarantineEntry } from './quarantine-access.ts';
import { escapeHtml } from './link-page.ts';

/** The most entries a digest lists (newest first). */
export const DIGEST_MAX = 50;

export interface DigestEntry {
  entry: RecipientQuarantineEntry;
  /** Absent when the recipient may not release it (malware by default). */
  releaseUrl?: string;
  deleteUrl: string;
}

export interface DigestInput {
  from: string;
  to: string;
  hostname: string;
  /** At most DIGEST_MAX, newest first. */
  entries: DigestEntry[];
  /** How many more are in quarantine for this recipient. */
  more: number;
  /** The user portal (base_url + "/#/portal"), when it is enabled. */
  portalUrl?: string;
  /** When the links stop working (ISO). */
  linksUntil: string;
}

const oneLine = (s: string, max = 200) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

export function digestText(d: DigestInput): string {
  const total = d.entries.length + d.more;
  const lines = [`${total} message${total === 1 ? ' was' : 's were'} held in quarantine for ${d.to} on ${d.hostname}.`, ''];
  for (const { entry: e, releaseUrl, deleteUrl } of d.entries) {
    lines.push(`From:    ${oneLine(e.sender || '<>')}`, `Subject: ${oneLine(e.subject ?? '(no subject)')}`, `Date:    ${e.received_at}`, `Reason:  ${oneLine(e.reason || e.rule)}`);
    lines.push(releaseUrl ? `Release: ${releaseUrl}` : 'Release: only your administrator can release this message');
    lines.push(`Delete:  ${deleteUrl}`, '');
  }
  if (d.more > 0) lines.push(`… and ${d.more} more not listed here.`, '');
  if (d.portalUrl) lines.push(`See all of them: ${d.portalUrl}`, '');
  lines.push(`The links work until ${d.linksUntil}. Each opens a page where you confirm.`);
  return lines.join('\n') + '\n';
}

export function digestHtml(d: DigestInput): string {
  const total = d.entries.length + d.more;
  const rows = d.entries
    .map(({ entry: e, releaseUrl, deleteUrl }) => {
      const release = releaseUrl ? `<a href="${escapeHtml(releaseUrl)}">Release</a>` : '<span title="only your administrator can release this message">—</span>';
      return `<tr><td>${escapeHtml(oneLine(e.sender || '<>'))}</td><td>${escapeHtml(oneLine(e.subject ?? '(no subject)'))}</td><td>${escapeHtml(oneLine(e.reason || e.rule))}</td><td>${escapeHtml(e.received_at)}</td><td>${release} <a href="${escapeHtml(deleteUrl)}">Delete</a></td></tr>`;
    })
    .join('');
  const more = d.more > 0 ? `<p>… and ${d.more} more not listed here.</p>` : '';
  const portal = d.portalUrl ? `<p><a href="${escapeHtml(d.portalUrl)}">See all of them</a></p>` : '';
  return `<!doctype html><html><body style="font-family:sans-serif"><p>${total} message${total === 1 ? ' was' : 's were'} held in quarantine for ${escapeHtml(d.to)} on ${escapeHtml(d.hostname)}.</p><table cellpadding="4" style="border-collapse:collapse"><tr><th align="left">From</th><th align="left">Subject</th><th align="left">Reason</th><th align="left">Date</th><th></th></tr>${rows}</table>${more}${portal}<p style="color:#555">The links work until ${escapeHtml(d.linksUntil)}. Each opens a page where you confirm.</p></body></html>`;
}

/** The whole message (CRLF line ends), ready for the queue. */
export async function composeDigest(d: DigestInput): Promise<Buffer> {
  const total = d.entries.length + d.more;
  const mail = new MailComposer({
    from: d.from,
    to: d.to,
    subject: `Quarantine: ${total} message${total === 1 ? '' : 's'} held for you`,
    text: digestText(d),
    html: digestHtml(d),
    // An automatic message: no auto-replies to it (RFC 3834), and a next hop can tell.
    headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All', 'X-Mailwarden-Digest': '1' },
  });
  const out = await mail.compile().build();
  // mail-composer writes CRLF; make sure (the queue holds SMTP's line ends).
  return Buffer.from(out.toString('utf8').replace(/\r?\n/g, '\r\n'), 'utf8');
}
