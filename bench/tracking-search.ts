// The tracking search on a month of a busy relay (issue #20): fills a
// tracking store with 1,000,000 synthetic entries (and their events) spread
// over 30 days, with the shape of real traffic (few senders, clients and
// destination domains carry most of the mail: Zipf distributions; inbound,
// relayed, refused at connect/RCPT/DATA, greylisted, deferred, bounced,
// quarantined...), then times the first page and a deep page (10,000
// entries in, through the keyset cursor) of every filter of TrackQuery, and
// the reader's decisions() and top(), on SQLite (the embedded store, a file
// in the scratch directory) and PostgreSQL (a private server, as the cluster
// cells start it). Prints a markdown table per store, with the plan SQLite
// chose for each search.
//
//   node bench/tracking-search.ts [--entries 1000000] [--stores sqlite,postgresql] [--no-events] [--runs 5] [--out FILE]
//
// Each figure is the median of `runs` runs (the max beside it); the data is
// the same for both stores (a seeded generator). Not part of `make test`.

import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteTrackingStore } from '../src/tracking/sqlite-tracking-store.ts';
import { PgTrackingStore } from '../src/store/pg/tracking-store.ts';
import { connectPg } from '../src/store/pg/connect.ts';
import { migrate } from '../src/store/pg/schema.ts';
import type { TrackEntry, TrackEvent, TrackingStore, TrackQuery, TrackStatus } from '../src/tracking/tracking-store.ts';
import { initRegistry, stopAll } from './lib/procs.ts';
import { BenchPostgres } from './lib/postgres.ts';
import { describeMachine } from './lib/machine.ts';
import { REPO } from './relays/mailwarden.ts';
import { mulberry32 } from '../test/support/prng.ts';

const argv = process.argv.slice(2);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ENTRIES = Number(value('entries') ?? 1_000_000);
const STORES = (value('stores') ?? 'sqlite,postgresql').split(',');
const EVENTS = !argv.includes('--no-events');
const RUNS = Number(value('runs') ?? 5);
const OUT = value('out');
const WORK = join(REPO, 'bench', '.scratch', 'tracking-search');
const DAY = 86_400_000;
const SPAN = 30 * DAY;
const END = Date.parse('2026-06-30T23:59:59.000Z');
const START = END - SPAN;
const DEEP = 10_000;

function log(s: string): void {
  process.stderr.write(s + '\n');
}

// --- the synthetic month ------------------------------------------------------------

// The same seeded generator as the tests (mulberry32): both stores get the same month.
const rnd = mulberry32(20);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const chance = (p: number) => rnd() < p;

/** Zipf(s) over n ranks: rank 0 is the most frequent. */
function zipf(n: number, s = 1.07): () => number {
  const cum = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cum[i] = total += 1 / Math.pow(i + 1, s);
  return () => {
    const x = rnd() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const ALPHA = '0123456789abcdefghjkmnpqrstvwxyz';
function queueId(at: number): string {
  let t = '';
  let n = at;
  for (let i = 0; i < 9; i++) {
    t = ALPHA[n % 32]! + t;
    n = Math.floor(n / 32);
  }
  for (let i = 0; i < 7; i++) t += ALPHA[Math.floor(rnd() * 32)]!;
  return t;
}
const token = (n: number) => Array.from({ length: n }, () => ALPHA[Math.floor(rnd() * 32)]).join('');

const BIG = ['gmail.com', 'outlook.com', 'yahoo.com', 'hotmail.com', 'icloud.com', 'gmx.de', 'web.de', 'orange.fr'];
const extDomains = [...BIG, ...Array.from({ length: 3000 }, (_, i) => `company${i}.example`)];
const localDomains = Array.from({ length: 20 }, (_, i) => `ours${i}.example`);
const extSenders = Array.from({ length: 40_000 }, (_, i) => `${pick(['info', 'noreply', 'news', 'sales', 'john', 'mary', 'support', 'billing'])}${i}@${extDomains[Math.min(extDomains.length - 1, Math.floor(Math.pow(rnd(), 3) * extDomains.length))]}`);
const localUsers = Array.from({ length: 30_000 }, (_, i) => `user${i}@${localDomains[i % localDomains.length]}`);
const intSenders = Array.from({ length: 2_000 }, (_, i) => (i < 20 ? `app${i}@${localDomains[i % 20]}` : localUsers[i * 7]!));
const extRecipients = Array.from({ length: 60_000 }, (_, i) => `r${i}@${extDomains[Math.min(extDomains.length - 1, Math.floor(Math.pow(rnd(), 3) * extDomains.length))]}`);
const extClients = Array.from({ length: 8_000 }, (_, i) => `${(i >> 16) + 11}.${(i >> 8) & 255}.${i & 255}.${(i * 7) % 250 + 1}`);
const intClients = Array.from({ length: 50 }, (_, i) => `10.1.${i >> 4}.${(i & 15) + 2}`);
const SUBJECTS = ['Invoice', 'Re: meeting notes', 'Your order has shipped', 'Weekly newsletter', 'Password reset', 'Quarterly report', 'Fwd: contract draft', 'Delivery notification', 'Scan from printer', 'Monthly statement', 'Re: Re: lunch?', 'Security alert', 'Welcome aboard', 'Payment received', 'Project update'];
const zExtSender = zipf(extSenders.length);
const zLocalUser = zipf(localUsers.length, 0.9);
const zIntSender = zipf(intSenders.length, 1.2);
const zExtRcpt = zipf(extRecipients.length, 0.95);
const zExtClient = zipf(extClients.length);
const zIntClient = zipf(intClients.length, 1.3);

/** Sample targets for the queries, picked as the month is made. */
const sample = { queueId: '', messageId: '', rareSender: extSenders[30_000]!, midSender: extSenders[100]!, heavySender: extSenders[0]!, localRcpt: localUsers[500]!, heavyClient: intClients[0]!, rareClient: extClients[7000]! };

interface Month {
  entries: TrackEntry[];
  events: TrackEvent[];
}

/** Makes the month in chunks (bounded memory), oldest first; calls `put` with each. */
async function makeMonth(put: (m: Month) => Promise<void>): Promise<{ entries: number; events: number }> {
  let made = 0;
  let events = 0;
  let chunk: Month = { entries: [], events: [] };
  for (let k = 0; made < ENTRIES; k++) {
    // The month goes by as the entries are made; busier in working hours (the clock runs slower through the day's peak).
    const day = Math.floor((made / ENTRIES) * 30);
    const inDay = (made / ENTRIES) * 30 - day;
    const at = Math.min(END - 1, START + day * DAY + Math.floor((inDay < 0.5 ? inDay * 1.4 : 0.7 + (inDay - 0.5) * 0.6) * DAY) + Math.floor(rnd() * 1000));
    const cid = token(16);
    const relay = chance(0.3);
    const client = relay ? intClients[zIntClient()]! : extClients[zExtClient()]!;
    const sender = relay ? intSenders[zIntSender()]! : chance(0.03) ? '' : extSenders[zExtSender()]!;
    const n = chance(0.75) ? 1 : chance(0.6) ? 2 : 3 + Math.floor(rnd() * 3);
    const rcpts = Array.from({ length: n }, () => (relay ? extRecipients[zExtRcpt()]! : localUsers[zLocalUser()]!));
    const base = { node: 'bench', cid, client, helo: `mail.${client.replace(/\./g, '-')}.example`, listener: relay ? 'submission' : 'mx', user: relay && chance(0.5) ? `login${zIntSender() % 300}` : null, size: null, message_id: null, subject: null, attempts: 0, relay: null, queue_id: null };
    const ev = (t: number, event: string, tx: number, fields: Record<string, unknown>, queue_id: string | null = null): TrackEvent => ({ at: t, cid, tx, queue_id, event, fields });
    const push = (e: TrackEntry) => {
      chunk.entries.push(e);
      made++;
    };
    if (EVENTS) chunk.events.push(ev(at - 50, 'connect', 0, { client, listener: base.listener, action: 'accept' }));
    const r = rnd();
    if (!relay && r < 0.03) {
      push({ ...base, key: `${cid}:0:0`, at, updated: at, tx: 0, sender: null, recipient: null, kind: null, status: 'refused', rule: chance(0.5) ? 'rule 1' : 'dnsbl', code: 554, reply: 'Access denied', rcpt_action: null, rcpt_rule: null, rcpt_code: null, first: true });
    } else if (!relay && r < 0.09) {
      // refused or greylisted at RCPT
      const [status, rule, code, reply]: [TrackStatus, string, number, string] =
        r < 0.05 ? ['refused', 'rule 4', 554, 'Relaying denied'] : r < 0.065 ? ['refused', 'recipients', 550, 'No such user'] : r < 0.075 ? ['refused', 'dnsbl', 554, 'Listed'] : ['tempfailed', 'greylisting', 451, 'Greylisted, try again later'];
      rcpts.forEach((rc, i) => {
        const to = rule === 'rule 4' ? extRecipients[zExtRcpt()]! : rc;
        push({ ...base, key: `${cid}:1:${i}`, at: at + i, updated: at + i, tx: 1, sender, recipient: to, kind: rule === 'rule 4' ? 'relay' : 'inbound', status, rule, code, reply, rcpt_action: status === 'tempfailed' ? 'tempfail' : 'reject', rcpt_rule: rule, rcpt_code: code, first: true });
        if (EVENTS) chunk.events.push(ev(at + i, 'rcpt', 1, { sender, recipient: to, action: 'reject', code, rule }));
      });
    } else {
      const id = queueId(at);
      const messageId = `${token(12)}.${k}@${sender.split('@')[1] ?? 'bounce.example'}`;
      const subject = `${pick(SUBJECTS)} ${chance(0.3) ? `#${Math.floor(rnd() * 100000)}` : ''}`.trim();
      const size = 2000 + Math.floor(rnd() * rnd() * 200_000);
      const age = END - at;
      const s = rnd();
      let status: TrackStatus = 'delivered';
      let rule = 'delivery';
      let code: number | null = 250;
      if (s < 0.01) [status, rule, code] = ['refused', pick(['antivirus.action', 'antispam.spam']), 554];
      else if (s < 0.02) [status, rule, code] = ['quarantined', 'antivirus.action', 250];
      else if (s < 0.023) [status, rule, code] = ['discarded', 'antispam.spam', 250];
      else if (s < 0.025) [status, rule, code] = ['held', 'rate limit 0', 250];
      else if (s < 0.027) [status, rule, code] = ['removed', 'admin', 250];
      else if (s < 0.05) [status, rule, code] = ['bounced', 'delivery', 550];
      else if (age < 3 * DAY && s < 0.07) [status, rule, code] = ['deferred', 'delivery', 451];
      else if (age < 3_600_000 && s < 0.2) [status, rule, code] = ['queued', rule3(relay), 250];
      const refused = status === 'refused';
      rcpts.forEach((to, i) => {
        push({
          ...base,
          key: refused ? `${cid}:1:${i}` : `${id}:${i}`,
          at,
          updated: at + 2000,
          tx: 1,
          queue_id: refused ? null : id,
          sender,
          recipient: to,
          message_id: refused ? null : messageId,
          subject: refused ? null : subject,
          size,
          kind: relay ? 'relay' : 'inbound',
          status,
          rule,
          code,
          reply: status === 'bounced' ? '550 5.1.1 user unknown' : null,
          attempts: status === 'delivered' || status === 'bounced' ? 1 : status === 'deferred' ? 3 : 0,
          relay: status === 'delivered' ? (relay ? `mx.${to.split('@')[1]}` : 'mailstore.ours.example') : null,
          rcpt_action: 'accept',
          rcpt_rule: rule3(relay),
          rcpt_code: 250,
          first: i === 0,
        });
        if (EVENTS) chunk.events.push(ev(at - 10 + i, 'rcpt', 1, { sender, recipient: to, action: 'accept', code: 250, rule: rule3(relay) }));
      });
      if (EVENTS && !refused) {
        chunk.events.push(ev(at, 'queued', 1, { sender, recipients: rcpts, size, message_id: messageId }, id));
        for (const to of rcpts) chunk.events.push(ev(at + 2000, 'delivery', 1, { recipient: to, status, code }, id));
      }
      if (k % 997 === 0 && !refused) {
        sample.queueId = id;
        sample.messageId = messageId;
      }
    }
    if (EVENTS) chunk.events.push(ev(at + 3000, 'disconnect', 0, { client }));
    if (chunk.entries.length >= 10_000) {
      events += chunk.events.length;
      await put(chunk);
      chunk = { entries: [], events: [] };
    }
  }
  events += chunk.events.length;
  await put(chunk);
  return { entries: made, events };
}

function rule3(relay: boolean): string {
  return relay ? 'rule 4' : 'rule 3';
}

// --- the measurements -------------------------------------------------------------------

interface Row {
  what: string;
  first: { median: number; max: number; n: number };
  deep: { median: number; max: number; depth: number } | null;
  plan?: string;
}

async function timed(fn: () => Promise<unknown>): Promise<{ median: number; max: number }> {
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, max: ms[ms.length - 1]! };
}

function queries(): [string, TrackQuery][] {
  const week = END - 7 * DAY;
  return [
    ['everything (newest first)', {}],
    ['from: a heavy sender (rank 1)', { from: sample.heavySender }],
    ['from: a common sender (rank 100)', { from: sample.midSender }],
    ['from: a rare sender (rank 30,000)', { from: sample.rareSender }],
    ['from: @gmail.com', { from: '@gmail.com' }],
    ['from: <> (null sender)', { from: '<>' }],
    ['to: a local mailbox', { to: sample.localRcpt }],
    ['to: @outlook.com', { to: '@outlook.com' }],
    ['client: the busiest relay host', { client: sample.heavyClient }],
    ['client: a rare outside client', { client: sample.rareClient }],
    ['id: a queue id', { id: sample.queueId }],
    ['message_id', { message_id: `<${sample.messageId}>` }],
    ['subject: "invoice" (common)', { subject: 'invoice' }],
    ['subject: "#4242" (rare)', { subject: '#4242' }],
    ['status: refused', { status: ['refused'] }],
    ['status: bounced, deferred', { status: ['bounced', 'deferred'] }],
    ['status: held (rare)', { status: ['held'] }],
    ['since/until: one day', { since: END - 15 * DAY, until: END - 14 * DAY }],
    ['from @gmail.com, refused, last 7 days', { from: '@gmail.com', status: ['refused'], since: week }],
    ['to @outlook.com, bounced, last 7 days', { to: '@outlook.com', status: ['bounced'], since: week }],
    ['client + status delivered + one day', { client: sample.heavyClient, status: ['delivered'], since: END - 2 * DAY, until: END - DAY }],
  ];
}

async function measure(store: TrackingStore, explain?: (q: TrackQuery) => string | Promise<string>): Promise<{ rows: Row[]; reader: [string, { median: number; max: number }][] }> {
  const rows: Row[] = [];
  for (const [what, q] of queries()) {
    const firstPage = await store.search({ ...q, limit: 50 });
    const first = await timed(() => store.search({ ...q, limit: 50 }));
    // 10,000 entries in (or as deep as the result goes): pages of 500 to get there, then a page of 50 timed.
    let cursor = firstPage.next;
    let depth = firstPage.entries.length;
    while (cursor && depth < DEEP) {
      const p = await store.search({ ...q, limit: 500, cursor });
      if (!p.next) break;
      depth += p.entries.length;
      cursor = p.next;
    }
    const deep = cursor && depth > 50 ? { ...(await timed(() => store.search({ ...q, limit: 50, cursor: cursor! }))), depth } : null;
    const row: Row = { what, first: { ...first, n: firstPage.entries.length }, deep };
    if (explain) row.plan = await explain({ ...q, limit: 50 });
    rows.push(row);
    log(`  ${what}: ${first.median.toFixed(1)} ms${deep ? `, at ${deep.depth}: ${deep.median.toFixed(1)} ms` : ''}`);
  }
  const reader: [string, { median: number; max: number }][] = [];
  reader.push(['timeline(queue id)', await timed(() => store.timeline(sample.queueId))]);
  reader.push(['decisions(last 7 days, 10,000 tuples)', await timed(() => store.decisions(END - 7 * DAY, END, 10_000))]);
  reader.push(['top(refusal, last day, 10)', await timed(() => store.top('refusal', END - DAY, 10))]);
  reader.push(['top(sender, last day, 10)', await timed(() => store.top('sender', END - DAY, 10))]);
  reader.push(['top(sender, last hour, 10)', await timed(() => store.top('sender', END - 3_600_000, 10))]);
  // Once (it changes the store): the retention's daily share, as the timer meets it.
  const pruneStart = performance.now();
  const pruned = await store.prune(START + DAY);
  const pruneMs = performance.now() - pruneStart;
  reader.push([`prune(the oldest day: ${pruned.toLocaleString('en')} entries and their events), once`, { median: pruneMs, max: pruneMs }]);
  for (const [w, t] of reader) log(`  ${w}: ${t.median.toFixed(1)} ms`);
  return { rows, reader };
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

function table(name: string, fill: string, r: { rows: Row[]; reader: [string, { median: number; max: number }][] }): string[] {
  const out = [`### ${name}`, '', fill, '', '| search (page of 50, newest first) | entries on the page | first page ms (median / max) | page 10,000 entries in, ms (median / max) |', '|---|---:|---:|---:|'];
  for (const row of r.rows) {
    out.push(`| ${row.what} | ${row.first.n} | ${fmt(row.first.median)} / ${fmt(row.first.max)} | ${row.deep ? `${fmt(row.deep.median)} / ${fmt(row.deep.max)}${row.deep.depth < DEEP ? ` (at ${row.deep.depth})` : ''}` : '(one page only)'} |`);
  }
  out.push('', '| reader | ms (median / max) |', '|---|---:|');
  for (const [w, t] of r.reader) out.push(`| ${w} | ${fmt(t.median)} / ${fmt(t.max)} |`);
  const worst = Math.max(...r.rows.flatMap((x) => [x.first.max, x.deep?.max ?? 0]));
  out.push('', `Slowest search (any page, any run): **${fmt(worst)} ms**.`);
  if (r.rows.some((x) => x.plan)) {
    out.push('', '<details><summary>plans</summary>', '', '```');
    for (const x of r.rows) out.push(`${x.what}: ${x.plan?.replace(/\n/g, '\n    ')}`);
    out.push('```', '', '</details>');
  }
  return out;
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  await initRegistry(join(WORK, 'procs.json'));
  const report: string[] = [`## Tracking search on ${ENTRIES.toLocaleString('en')} entries (${new Date().toISOString().slice(0, 10)})`, '', ...describeMachine(WORK), ''];
  report.push(`\`node bench/tracking-search.ts --entries ${ENTRIES}${EVENTS ? '' : ' --no-events'}\`: a month (30 days) of synthetic traffic, ${RUNS} runs per figure.`, '');
  for (const kind of STORES) {
    rmSync(join(WORK, kind), { recursive: true, force: true });
    mkdirSync(join(WORK, kind), { recursive: true });
    let store: TrackingStore;
    let explain: ((q: TrackQuery) => string | Promise<string>) | undefined;
    let close: () => Promise<void>;
    let size: () => Promise<string>;
    let analyze = async () => {};
    if (kind === 'sqlite') {
      const file = join(WORK, kind, 'tracking.db');
      const s = new SqliteTrackingStore(file);
      store = s;
      explain = (q) => s.explain(q);
      close = () => s.close();
      size = async () => `${(statSync(file).size / 1e6).toFixed(0)} MB`;
    } else if (kind === 'postgresql') {
      const pg = await BenchPostgres.start(join(WORK, kind));
      const sql = connectPg(await pg.createDatabase('tracking'), { queryTimeout: 600 });
      await migrate(sql);
      const s = new PgTrackingStore(sql);
      store = s;
      // As autovacuum would after a month: the planner's statistics are current.
      analyze = async () => void (await sql`ANALYZE track_entry`, await sql`ANALYZE track_event`);
      explain = (q) => s.explain(q);
      close = async () => {
        await sql.end({ timeout: 5 });
        await pg.stop();
      };
      size = async () => {
        const [r] = await sql`SELECT pg_size_pretty(pg_total_relation_size('track_entry')) AS e, pg_size_pretty(pg_total_relation_size('track_event')) AS v`;
        return `entries ${String(r!.e)}, events ${String(r!.v)} (tables with their indexes)`;
      };
    } else throw new Error(`unknown store ${kind}`);
    try {
      log(`${kind}: filling ${ENTRIES.toLocaleString('en')} entries${EVENTS ? ' and their events' : ''}...`);
      const t = performance.now();
      const made = await makeMonth((m) => store.write({ entries: m.entries, updates: [], events: m.events }));
      const fillS = (performance.now() - t) / 1000;
      await analyze();
      const fill = `Filled with ${made.entries.toLocaleString('en')} entries and ${made.events.toLocaleString('en')} events in ${fillS.toFixed(0)} s (${((made.entries / fillS) | 0).toLocaleString('en')} entries/s in batches of 10,000); size ${await size()}.`;
      log(`  ${fill}`);
      const r = await measure(store, explain);
      report.push(...table(kind === 'sqlite' ? 'SQLite (embedded, DATA/tracking.db)' : 'PostgreSQL 15 (cluster store)', fill, r), '');
    } finally {
      await close();
    }
  }
  const text = report.join('\n') + '\n';
  process.stdout.write(text);
  if (OUT) writeFileSync(OUT, text);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`tracking-search: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
