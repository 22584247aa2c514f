// Recipient verification by callout: asks a local domain's route host(s)
// whether an address exists, with an SMTP probe that never sends a message:
// connect, greeting, EHLO (HELO if refused), MAIL FROM:<sender>, RCPT
// TO:<address>, QUIT. 2xx to RCPT: exists; 5xx: unknown; anything else (4xx
// to RCPT, a refused greeting or MAIL, no connection, a timeout): temporary.
//
// A small client of its own rather than nodemailer's SMTPConnection: that
// one's public API sends MAIL, RCPT and DATA as one operation (send()), so a
// probe would have to drive its private _sendCommand/_responseActions; a
// probe needs four commands and no message, which are simpler written here.
// No STARTTLS: the route hosts are the organisation's own servers, and the
// probe carries only an address (a server that insists on TLS before MAIL
// answers 5xx to MAIL, which is "temporary" here, never "unknown").
//
// Answers are kept per process in a bounded LRU cache: "exists" for
// cache_positive, "unknown" for cache_negative; temporary failures are not
// kept (the next RCPT asks again). Probes to one route run at most
// PROBES_PER_ROUTE at a time; the others wait their turn (within their own
// timeout) and a probe for an address already being asked waits for that
// one's answer, so that a flood of RCPTs cannot open a flood of connections
// to the internal server.

import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { HostPort } from '../address/host-port.ts';

export type CalloutAnswer = 'exists' | 'unknown' | 'temporary';

export interface ProbeResult {
  answer: CalloutAnswer;
  /** For a temporary answer: whether a server answered (4xx to RCPT) rather than nobody. */
  busy: boolean;
  /** For the log only (names the host and its reply): never sent to a client. */
  detail: string;
}

export interface ProbeRequest {
  hosts: readonly HostPort[];
  /** Our EHLO name. */
  hostname: string;
  /** MAIL FROM; "" for <>. */
  sender: string;
  address: string;
  /** Per host tried: from connect to the RCPT answer. */
  timeoutMs: number;
  /** Host name → addresses (the settings' DNS); IPs are used as they are. */
  resolve?: (name: string) => Promise<string[]>;
}

export interface CalloutRequest extends ProbeRequest {
  positiveMs: number;
  negativeMs: number;
}

export interface Verified extends ProbeResult {
  /** Answered from the cache (or by a probe another RCPT started). */
  cached: boolean;
}

/** What the recipient check needs (CheckServices.callout). */
export interface CalloutPort {
  verify(req: CalloutRequest): Promise<Verified>;
}

export const PROBES_PER_ROUTE = 2;
/** Beyond this many RCPTs waiting for one route, the next is answered "temporary" at once. */
const MAX_WAITING = 200;
const MAX_CACHE = 10_000;
/** A reply longer than this is not an SMTP server talking. */
const MAX_REPLY = 64 * 1024;

type Probe = (req: ProbeRequest) => Promise<ProbeResult>;

export class Callout implements CalloutPort {
  private readonly cache = new Map<string, { result: ProbeResult; until: number }>();
  private readonly inflight = new Map<string, Promise<ProbeResult>>();
  private readonly routes = new Map<string, { running: number; waiting: (() => void)[] }>();
  private readonly probeFn: Probe;
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly perRoute: number;

  constructor(opts: { probe?: Probe; now?: () => number; maxEntries?: number; perRoute?: number } = {}) {
    this.probeFn = opts.probe ?? probe;
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? MAX_CACHE;
    this.perRoute = opts.perRoute ?? PROBES_PER_ROUTE;
  }

  async verify(req: CalloutRequest): Promise<Verified> {
    const route = req.hosts.map((h) => `${h.host}:${h.port}`).join(',');
    const key = `${route}\n${req.sender}\n${req.address}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      if (hit.until > this.now()) {
        this.cache.set(key, hit);
        return { ...hit.result, cached: true };
      }
    }
    const running = this.inflight.get(key);
    if (running) return { ...(await running), cached: true };
    const p = this.limited(route, req).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    const result = await p;
    const ttl = result.answer === 'exists' ? req.positiveMs : result.answer === 'unknown' ? req.negativeMs : 0;
    if (ttl > 0) this.remember(key, result, ttl);
    return { ...result, cached: false };
  }

  /** Entries in the cache (tests). */
  get size(): number {
    return this.cache.size;
  }

  private remember(key: string, result: ProbeResult, ttl: number): void {
    this.cache.set(key, { result, until: this.now() + ttl });
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  /** The probe once a slot of its route is free, waiting at most the request's timeout for it. */
  private async limited(route: string, req: ProbeRequest): Promise<ProbeResult> {
    let r = this.routes.get(route);
    if (!r) this.routes.set(route, (r = { running: 0, waiting: [] }));
    const slots = r;
    if (slots.running >= this.perRoute) {
      if (slots.waiting.length >= MAX_WAITING) return { answer: 'temporary', busy: false, detail: `${MAX_WAITING} probes already waiting for ${route}` };
      const got = await new Promise<boolean>((done) => {
        const wake = () => (clearTimeout(timer), done(true));
        const timer = setTimeout(() => {
          slots.waiting.splice(slots.waiting.indexOf(wake), 1);
          done(false);
        }, req.timeoutMs);
        slots.waiting.push(wake);
      });
      if (!got) return { answer: 'temporary', busy: false, detail: `no probe slot for ${route} within ${req.timeoutMs} ms` };
    } else slots.running++;
    try {
      return await this.probeFn(req);
    } finally {
      // A slot passes straight to the next waiter; the count drops only when nobody waits.
      const next = slots.waiting.shift();
      if (next) next();
      else if (--slots.running === 0) this.routes.delete(route);
    }
  }
}

/** Probes the hosts in order until one gives an answer (a host that cannot be reached passes to the next). */
export async function probe(req: ProbeRequest): Promise<ProbeResult> {
  const tried: string[] = [];
  let last: ProbeResult = { answer: 'temporary', busy: false, detail: 'no route host' };
  for (const h of req.hosts) {
    let addresses: string[];
    if (isIP(h.host)) addresses = [h.host];
    else {
      try {
        addresses = req.resolve ? await req.resolve(h.host) : [h.host];
      } catch (err) {
        tried.push(`${h.host}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
    }
    for (const ip of addresses) {
      last = await probeOne(ip, h.port, req);
      // A server's own answer (yes, no, or a 4xx to RCPT) ends it; no connection tries the next.
      if (last.answer !== 'temporary' || last.busy) return last;
      tried.push(last.detail);
    }
  }
  return { answer: 'temporary', busy: false, detail: tried.join('; ') || last.detail };
}

interface Reply {
  code: number;
  text: string;
}

/** One SMTP conversation: reads replies (multi-line ones whole), writes commands. */
class Conversation {
  private buf = '';
  private readonly replies: Reply[] = [];
  private lines: string[] = [];
  private waiter: ((r: Reply | Error) => void) | null = null;
  private failure: Error | null = null;
  readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.take(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  private take(chunk: string): void {
    this.buf += chunk;
    if (this.buf.length > MAX_REPLY) return this.fail(new Error('reply too long'));
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      const m = /^([2-5][0-9][0-9])([ -]|$)(.*)$/.exec(line);
      if (!m) return this.fail(new Error(`not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}`));
      this.lines.push(m[3] ?? '');
      if (m[2] !== '-') {
        this.replies.push({ code: Number(m[1]), text: this.lines.join(' / ') });
        this.lines = [];
      }
    }
    this.deliver();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.deliver();
  }

  private deliver(): void {
    if (!this.waiter) return;
    const r = this.replies.shift() ?? this.failure;
    if (!r) return;
    const w = this.waiter;
    this.waiter = null;
    w(r);
  }

  next(): Promise<Reply> {
    return new Promise((done, fail) => {
      this.waiter = (r) => (r instanceof Error ? fail(r) : done(r));
      this.deliver();
    });
  }

  async command(line: string): Promise<Reply> {
    if (/[\r\n]/.test(line)) throw new Error('a line break inside a command');
    this.socket.write(`${line}\r\n`);
    return this.next();
  }
}

async function probeOne(ip: string, port: number, req: ProbeRequest): Promise<ProbeResult> {
  const where = isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
  const socket = netConnect({ host: ip, port });
  socket.setNoDelay(true);
  const talk = new Conversation(socket);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      fail(new Error(`no answer within ${req.timeoutMs} ms`));
      socket.destroy();
    }, req.timeoutMs);
  });
  const temporary = (busy: boolean, what: string): ProbeResult => ({ answer: 'temporary', busy, detail: `${where}: ${what}` });
  const work = (async (): Promise<ProbeResult> => {
    const greeting = await talk.next();
    if (greeting.code !== 220) return temporary(false, `greeting ${greeting.code} ${greeting.text}`);
    let hello = await talk.command(`EHLO ${req.hostname}`);
    const smtputf8 = hello.code === 250 && /(^| \/ )SMTPUTF8( |$)/i.test(hello.text);
    if (hello.code >= 500) hello = await talk.command(`HELO ${req.hostname}`);
    if (hello.code !== 250) return temporary(false, `HELO ${hello.code} ${hello.text}`);
    const utf8 = /[^\x00-\x7f]/.test(req.address);
    const mail = await talk.command(`MAIL FROM:<${req.sender}>${utf8 && smtputf8 ? ' SMTPUTF8' : ''}`);
    if (mail.code !== 250) return temporary(false, `MAIL ${mail.code} ${mail.text}`);
    const rcpt = await talk.command(`RCPT TO:<${req.address}>`);
    // Not waiting for QUIT's answer: the probe has what it came for.
    socket.end('QUIT\r\n');
    if (rcpt.code >= 200 && rcpt.code < 300) return { answer: 'exists', busy: false, detail: `${where}: RCPT ${rcpt.code} ${rcpt.text}` };
    if (rcpt.code >= 500) return { answer: 'unknown', busy: false, detail: `${where}: RCPT ${rcpt.code} ${rcpt.text}` };
    return temporary(true, `RCPT ${rcpt.code} ${rcpt.text}`);
  })();
  // After a timeout the conversation fails too, with nobody left to hear it.
  work.catch(() => {});
  try {
    return await Promise.race([deadline, work]);
  } catch (err) {
    return temporary(false, err instanceof Error ? err.message : String(err));
  } finally {
    clearTimeout(timer);
    // A socket that did not end politely is closed hard; one that did closes on the server's answer.
    if (!socket.writableEnded) socket.destroy();
    else socket.setTimeout(1000, () => socket.destroy());
  }
}
