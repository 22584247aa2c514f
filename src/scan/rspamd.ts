// Our rspamd client: POST /checkv2 on its normal worker, with the envelope in
// request headers (client address, HELO, MAIL FROM, each RCPT, queue id,
// authenticated user) and the message as the body, streamed from the spool.
// The JSON answer gives the score, rspamd's threshold and its symbols. Any
// failure is an `error` verdict.

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { sendMessage, type MessageSource, type SpamVerdict } from './spam-verdict.ts';

export interface RspamdEnvelope {
  ip: string;
  helo: string;
  from: string;
  rcpt: string[];
  queueId: string;
  user: string | null;
}

/** Reads rspamd's /checkv2 JSON. */
export function parseRspamdResponse(status: number, text: string): SpamVerdict {
  if (status !== 200) return { result: 'error', detail: `rspamd answered HTTP ${status}` };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return { result: 'error', detail: 'rspamd answered something that is not JSON' };
  }
  const o = j as { score?: unknown; required_score?: unknown; symbols?: unknown; error?: unknown };
  if (typeof o.error === 'string') return { result: 'error', detail: `rspamd: ${o.error}` };
  if (typeof o.score !== 'number') return { result: 'error', detail: 'rspamd gave no score' };
  const symbols = o.symbols && typeof o.symbols === 'object' ? Object.keys(o.symbols).sort() : [];
  return { result: 'scored', score: o.score, required: typeof o.required_score === 'number' ? o.required_score : null, symbols };
}

export function rspamdCheck(baseUrl: string, env: RspamdEnvelope, message: MessageSource, timeoutMs: number): Promise<SpamVerdict> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: SpamVerdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(v);
    };
    const url = new URL('checkv2', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    // Node writes header strings as Latin-1: UTF-8 addresses (SMTPUTF8) go
    // out as their raw octets this way instead of throwing.
    const raw = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
    const headers: Record<string, string | string[]> = {
      'Content-Length': String(message.size),
      IP: env.ip,
      Helo: raw(env.helo || 'unknown'),
      From: env.from === '' ? '<>' : raw(env.from),
      Rcpt: env.rcpt.map(raw),
      'Queue-Id': env.queueId,
    };
    if (env.user) headers.User = raw(env.user);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'POST', headers }, (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      let got = 0;
      res.on('data', (d: Buffer) => {
        got += d.length;
        if (got > 4 * 1024 * 1024) return done({ result: 'error', detail: 'rspamd: reply too long' });
        parts.push(d);
      });
      res.on('end', () => done(parseRspamdResponse(res.statusCode ?? 0, Buffer.concat(parts).toString('utf8'))));
      res.on('error', (err) => done({ result: 'error', detail: `rspamd: ${err.message}` }));
    });
    const timer = setTimeout(() => done({ result: 'error', detail: `rspamd did not answer within ${timeoutMs} ms` }), timeoutMs);
    req.on('error', (err) => done({ result: 'error', detail: `rspamd: ${err.message}` }));
    sendMessage(req, message, () => settled).catch((err: unknown) => done({ result: 'error', detail: `reading the message for rspamd: ${(err as Error).message}` }));
  });
}
