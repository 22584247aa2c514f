// The timeline of a message with more recipients than a timeline shows
// events (TIMELINE_EVENTS): with the real daemon, a real next hop and swaks,
// a message to 1,001 recipients; its timeline over the API still has where
// the message went (queued, the delivery attempts, the disconnect), says it
// is cut and how many events were left out, and `mailwarden track --id`
// says so too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, swaks, swaksMissing } from '../smtp/harness.ts';
import { must, startTrackedRelay } from '../api/tracking-traffic.ts';
import { TIMELINE_EVENTS } from '../../src/tracking/track-rows.ts';

const skip = swaksMissing();
const RECIPIENTS = 1001;

test('a message to 1,001 recipients: its timeline keeps queued and the deliveries, and says how many events were left out', { skip, timeout: 180_000 }, async (t) => {
  const { relay, api, password } = await startTrackedRelay(t, { limits: { max_recipients: 2000 } });
  const me = await api.login('admin', password);
  const to = Array.from({ length: RECIPIENTS }, (_, i) => `r${i}@example.com`);
  const r = await swaks(['--server', '127.0.0.1', '--port', String(relay.ports.mx), '--pipeline', '--from', 'big@sender.example', '--to', to.join(','), '--timeout', '60']);
  assert.equal(r.status, 0, r.out.slice(-2000));
  const id = /queued as ([0-9a-z]{16})/.exec(r.out)?.[1];
  assert.ok(id, r.out.slice(-2000));
  // The last recipient's delivery: every attempt is logged by then.
  await relay.waitLog((l) => l.event === 'delivery' && l.id === id && l.recipient === to.at(-1), 60_000);

  const tl = await must(api, me, `/api/tracking/${id}`);
  assert.equal(tl.entries.length, RECIPIENTS);
  const names: string[] = tl.events.map((e: { event: string }) => e.event);
  assert.ok(names.length <= TIMELINE_EVENTS, `${names.length} events`);
  assert.ok(names.includes('queued'), 'queued is kept');
  assert.ok(names.includes('delivery'), 'the delivery attempts are kept');
  assert.ok(names.includes('disconnect'), 'the disconnect is kept');
  assert.ok(names.includes('rcpt'), 'and the first RCPTs');
  assert.equal(tl.truncated, true);
  assert.ok(tl.omitted > 0, `omitted: ${tl.omitted}`);
  assert.ok(names.length + tl.omitted > RECIPIENTS, 'every RCPT counted in all');

  const cli = await runCli(['track', '--data', relay.dataDir, '--id', id]);
  assert.equal(cli.status, 0, cli.stderr);
  // The queue's last events (the message leaving the queue) may be recorded between the two looks: no exact count.
  const said = new RegExp(`: ${RECIPIENTS} recipients, ${names.length} events, (\\d+) more left out\\n`).exec(cli.stdout);
  assert.ok(said && Number(said[1]) >= tl.omitted, cli.stdout.slice(0, 300));
  assert.match(cli.stdout, new RegExp(`\\n\\(${said[1]} of ${names.length + Number(said[1])} events left out`));
  assert.match(cli.stdout, /\d{3}  queued /);
  assert.equal(await relay.stop(), 0);
});
