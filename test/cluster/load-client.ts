// A bounded SMTP load that behaves as real sending clients do when servers
// die under them: several clients, each from its own loopback source address,
// send their share of a fixed set of messages (each with a unique tag in its
// Subject and Message-ID) at a fixed total rate, over connections spread
// round-robin across the targets (the nodes' addresses, as an MX client
// knows them, or one load balancer). A target that refuses the connection is
// skipped for the next; a 4xx, a dropped connection or a silence puts the
// message back to be sent again later (a client does not know whether a
// message whose reply it never saw was taken: sending it again may make a
// duplicate, never a loss). It ends when every message got its 250 or the
// deadline passed: bounded in count and in time.

import { RawClient } from '../smtp/harness.ts';
import { RCPT_DOMAIN } from './harness.ts';

export interface LoadOptions {
  /** Every message to send, by tag; client k sends the tags k, k+clients, … */
  tags: readonly string[];
  /** One loopback source address per client (127.x.y.z). */
  sources: readonly string[];
  /** The ports to connect to, read at every connect (a restarted node may be given a new one). */
  targets: () => readonly number[];
  /** Messages per second, all clients together. */
  rate: number;
  /** Epoch ms: nothing new is started after it. */
  deadline: number;
  /** Transactions per connection before the client moves on to the next target. */
  perConnection?: number;
  /** How long a client waits before sending a refused message again. */
  retryMs?: number;
  /** Told of every 250 (the tag, the queue id in the reply). */
  onAck?: (tag: string, id: string) => void;
}

export interface Refusal {
  tag: string;
  /** The stage and the reply, or what happened instead ('closed', 'timeout', 'connect'). */
  stage: string;
  reply: string;
}

export interface LoadResult {
  /** Acknowledged messages: tag → queue id and how many tries it took. */
  acked: Map<string, { id: string; tries: number; at: number }>;
  /** Temporary refusals and lost conversations, each followed by a retry. */
  retried: Refusal[];
  /** 5xx answers: a message the cluster refused for good (never expected here). */
  permanent: Refusal[];
  /** Connection attempts that found no server (a killed node). */
  connectFailures: number;
  /** Tags that never got a 250 before the deadline. */
  unacked: string[];
}

const message = (tag: string): string =>
  `From: <sender@client.example>\r\nTo: <rcpt@${RCPT_DOMAIN}>\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@client.example>\r\n\r\nmessage ${tag}\r\n.`;

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { acked: new Map(), retried: [], permanent: [], connectFailures: 0, unacked: [] };
  const perConnection = o.perConnection ?? 20;
  const retryMs = o.retryMs ?? 1000;
  const t0 = Date.now();
  // Message i of the whole load is due at t0 + i / rate: the clients share one schedule.
  let next = 0;
  const slot = (): number => t0 + (next++ * 1000) / o.rate;
  let rr = 0;

  const client = async (k: number): Promise<void> => {
    const source = o.sources[k]!;
    const fresh = o.tags.filter((_, i) => i % o.sources.length === k);
    const later: { tag: string; at: number; tries: number }[] = [];
    const tries = new Map<string, number>();
    let c: RawClient | null = null;
    let used = 0;
    const drop = (): void => {
      c?.end();
      c = null;
    };
    const connect = async (): Promise<RawClient | null> => {
      const ports = o.targets();
      for (let i = 0; i < ports.length; i++) {
        const port = ports[rr++ % ports.length]!;
        let cl: RawClient;
        try {
          cl = await RawClient.connect(port, source);
        } catch {
          result.connectFailures++;
          continue;
        }
        try {
          const greet = await cl.reply();
          if (greet?.startsWith('220') && (await cl.cmd('EHLO client.example'))?.startsWith('250')) return cl;
        } catch {
          // silence: another target
        }
        cl.end();
      }
      return null;
    };
    while (Date.now() < o.deadline) {
      let tag: string;
      const due = later.findIndex((l) => l.at <= Date.now());
      if (due >= 0) tag = later.splice(due, 1)[0]!.tag;
      else if (fresh.length > 0) {
        tag = fresh.shift()!;
        await wait(slot() - Date.now());
      } else if (later.length > 0) {
        await wait(Math.min(...later.map((l) => l.at)) - Date.now());
        continue;
      } else break;
      tries.set(tag, (tries.get(tag) ?? 0) + 1);
      const retry = (stage: string, reply: string): void => {
        result.retried.push({ tag, stage, reply });
        later.push({ tag, at: Date.now() + retryMs, tries: tries.get(tag)! });
      };
      if (!c || c.closed || used >= perConnection) {
        if (c && !c.closed) void c.cmd('QUIT').catch(() => {});
        drop();
        c = await connect();
        used = 0;
        if (!c) {
          retry('connect', 'no target answered');
          continue;
        }
      }
      used++;
      const conn: RawClient = c;
      let stage = 'MAIL';
      try {
        const steps: [string, string, RegExp][] = [
          ['MAIL', 'MAIL FROM:<sender@client.example>', /^250 /],
          ['RCPT', `RCPT TO:<rcpt@${RCPT_DOMAIN}>`, /^250 /],
          ['DATA', 'DATA', /^354 /],
          ['end', message(tag), /^250 /],
        ];
        let failed: string | null = null;
        for (const [name, line, want] of steps) {
          stage = name;
          const r = await conn.cmd(line);
          if (r === null) {
            failed = '(closed)';
            break;
          }
          if (!want.test(r)) {
            failed = r;
            break;
          }
          if (name === 'end') result.acked.set(tag, { id: /queued as ([0-9a-z]+)/.exec(r)?.[1] ?? '', tries: tries.get(tag)!, at: Date.now() }), o.onAck?.(tag, /queued as ([0-9a-z]+)/.exec(r)?.[1] ?? '');
        }
        if (failed === null) continue;
        if (failed.startsWith('5')) {
          result.permanent.push({ tag, stage, reply: failed });
          if (!conn.closed) await conn.cmd('RSET');
          continue;
        }
        retry(stage, failed);
        if (conn.closed || failed === '(closed)') drop();
        else if (stage !== 'end') await conn.cmd('RSET');
      } catch (err) {
        // No reply in time: the conversation is lost; the message goes again on another connection.
        retry(stage, `(${(err as Error).message.slice(0, 80)})`);
        drop();
      }
    }
    drop();
    for (const tag of [...fresh, ...later.map((l) => l.tag)]) result.unacked.push(tag);
  };

  await Promise.all(o.sources.map((_, k) => client(k)));
  return result;
}
