// Real traffic for the tests of message tracking's surfaces (API, CLI,
// Chromium): the daemon with its admin API, a sink SMTP server as the
// internal mail server of example.com (it refuses nobody@ with 550 and
// defers slow@ with 451), and mail sent with swaks: delivered, deferred,
// bounced (with its DSN), and refused by the relay rules from a client
// without a relay right. Each test file starts its own.

import { swaks, queuedId, deliveryOf, type Relay } from '../smtp/harness.ts';
import { startSink, type Sink } from '../delivery/sink.ts';
import { startWithApi, type ApiClient, type Caller } from './client.ts';

/** A client address with no relay right (not in the test settings' `localhost` object). */
export const STRANGER = '127.0.0.9';

export interface TrackedRelay {
  relay: Relay;
  api: ApiClient;
  password: string;
  adminPort: number;
  sink: Sink;
}

/** The sink standing for example.com's mail server: it refuses nobody@ (550) and defers slow@ (451). */
export async function startTrackingSink(t: { after: (fn: () => void | Promise<void>) => void }): Promise<Sink> {
  const sink = await startSink({
    behaviour: {
      rcpt: (to) => (to === 'nobody@example.com' ? { code: 550, text: '5.1.1 no such user here' } : to === 'slow@example.com' ? { code: 451, text: '4.3.0 try again later' } : undefined),
    },
  });
  t.after(() => sink.close());
  return sink;
}

/** The settings the traffic needs: example.com routed to the sink, delivery on, tracking with subjects. */
export function trackedSettings(sink: Sink): Record<string, unknown> {
  return {
    domains: [{ name: 'example.com', route: { hosts: [`127.0.0.1:${sink.port}`] } }],
    delivery: { enabled: true },
    tracking: { enabled: true, retention: '30d', subject: true },
  };
}

/** The sink, and the daemon with its admin API started with the settings the traffic needs (merged with `extra`). */
export async function startTrackedRelay(t: { after: (fn: () => void | Promise<void>) => void }, extra: Record<string, unknown> = {}): Promise<TrackedRelay> {
  const sink = await startTrackingSink(t);
  const started = await startWithApi(t, { ...trackedSettings(sink), ...extra });
  return { ...started, sink };
}

export interface Sent {
  /** Queue ids of alice@example.net's three messages to bob@example.com, in order (delivered). */
  alice: string[];
  /** carol@example.net to bob@ (delivered) and slow@example.com (deferred: 451 from the sink). */
  carol: string;
  /** dave@example.com to nobody@example.com: bounced (550 from the sink); its DSN to dave@ is delivered. */
  dave: string;
  /** The DSN's queue id. */
  dsn: string;
  /** When the first message was sent and when the last delivery was seen (epoch ms). */
  started: number;
  finished: number;
}

/** One message with swaks: its queue id (from STRANGER: swaks's transcript, the relay refuses it). */
export async function send(relay: Relay, from: string, to: string[], subject: string, messageId: string, local = '127.0.0.1'): Promise<string> {
  const r = await swaks(['--server', '127.0.0.1', '--port', String(relay.ports.mx), '--local-interface', local, '--ehlo', 'client.example', '--from', from, '--to', to.join(','), '--header', `Subject: ${subject}`, '--header', `Message-Id: <${messageId}>`]);
  return local === STRANGER ? r.out : queuedId(r.out);
}

/** Sends the traffic and waits for every delivery attempt (and the DSN's) to be logged. */
export async function sendTraffic(relay: Relay): Promise<Sent> {
  const started = Date.now();
  const alice: string[] = [];
  for (let i = 1; i <= 3; i++) alice.push(await send(relay, 'alice@example.net', ['bob@example.com'], `Invoice ${i} for June`, `alice-${i}@tracking.test`));
  const carol = await send(relay, 'carol@example.net', ['bob@example.com', 'slow@example.com'], 'Minutes of the meeting', 'carol-1@tracking.test');
  const dave = await send(relay, 'dave@example.com', ['nobody@example.com'], 'Hello nobody', 'dave-1@tracking.test');
  const refused = await send(relay, 'mallory@example.net', ['victim@elsewhere.test'], 'Open relay?', 'mallory-1@tracking.test', STRANGER);
  if (!/554 5\.7\.1/.test(refused)) throw new Error(`the stranger's RCPT was not refused:\n${refused}`);
  for (const id of alice) await deliveryOf(relay, id, 'bob@example.com');
  await deliveryOf(relay, carol, 'bob@example.com');
  await deliveryOf(relay, carol, 'slow@example.com');
  await deliveryOf(relay, dave, 'nobody@example.com');
  const dsn = String((await relay.waitLog((l) => l.event === 'dsn.queued' && l.of === dave)).id);
  await deliveryOf(relay, dsn, 'dave@example.com');
  return { alice, carol, dave, dsn, started, finished: Date.now() };
}

/** An API call as `as` that must answer `status`; its JSON. */
export async function must(api: ApiClient, as: Caller, path: string, status = 200): Promise<any> {
  const r = await api.call('GET', path, { as });
  if (r.status !== status) throw new Error(`GET ${path}: ${r.status} (expected ${status}): ${r.text}`);
  return r.json;
}
