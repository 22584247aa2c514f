// The small server-side HTML pages the digest's links open (pure: text in,
// HTML out, every value escaped). No script, no external resource; the one
// form POSTs the token back to the same path.

import type { RecipientQuarantineEntry } from './quarantine-access.ts';
import type { LinkAction } from './link-token.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}table{border-collapse:collapse}th{text-align:left;padding:.2em 1em .2em 0;color:#555;vertical-align:top}td{padding:.2em 0;word-break:break-word}button{font-size:1em;padding:.5em 1.5em;margin-top:1.5em}.note{color:#555}';

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function details(e: RecipientQuarantineEntry): string {
  const row = (k: string, v: string) => `<tr><th>${k}</th><td>${escapeHtml(v)}</td></tr>`;
  return `<table>${row('From', e.sender === '' ? '<>' : e.sender)}${row('Subject', e.subject ?? '(no subject)')}${row('To', e.recipients.join(', '))}${row('Received', e.received_at)}${row('Reason', e.reason || e.rule)}</table>`;
}

const VERB: Record<Exclude<LinkAction, 'view'>, string> = { release: 'Release', delete: 'Delete' };

/** The page of a valid link: the message and the button that does the link's action (none when it may not). */
export function actionPage(e: RecipientQuarantineEntry, action: LinkAction, token: string): string {
  if (action === 'view') return page('Quarantined message', details(e));
  if (action === 'release' && !e.releasable) {
    const why = e.category === 'malware' ? 'This message was quarantined because it contains malware.' : 'Messages quarantined for this reason cannot be released from a link.';
    return page('Quarantined message', `${details(e)}<p>${why} Ask your administrator if you need it.</p>`);
  }
  const note = action === 'release' ? 'The message will be delivered to your mailbox.' : 'Your copy of the message will be deleted; this cannot be undone.';
  return page(
    `${VERB[action]} this message?`,
    `${details(e)}<p class="note">${note}</p><form method="post" action="link"><input type="hidden" name="t" value="${escapeHtml(token)}"><button type="submit">${VERB[action]}</button></form>`,
  );
}

export function donePage(action: 'release' | 'delete'): string {
  return action === 'release' ? page('Message released', '<p>The message has been released and is being delivered to your mailbox.</p>') : page('Message deleted', '<p>Your copy of the message has been deleted.</p>');
}

export function invalidPage(): string {
  return page('This link is not valid', '<p>This link is not valid: it may have expired, or it was changed. Use a link from your latest quarantine digest, or ask your administrator.</p>');
}

export function gonePage(): string {
  return page('No longer in quarantine', '<p>This message is no longer in quarantine for you: it was already released or deleted.</p>');
}

export function deniedPage(message: string): string {
  return page('Not allowed', `<p>${escapeHtml(message)}.</p><p>Ask your administrator.</p>`);
}

export function busyPage(): string {
  return page('Please try again', '<p>Too many requests just now. Please try again in a minute.</p>');
}
