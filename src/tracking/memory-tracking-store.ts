// TrackingStore in memory, for tests and for the contract the SQL stores are
// held to: the same search, timeline, decisions and top, by plain array work.
// Bounded: past `max` entries (or 4 times as many events) the oldest go.

import type { DecisionTuple, TopRow } from './tracking-reader.ts';
import { matches, newerFirst, normalizeQuery, pageOf } from './track-query.ts';
import { byKey, keptEvents, timelineCap, type TimelineCap } from './track-rows.ts';
import { QUEUE_ID } from '../queue/queue-id.ts';
import type { TrackBatch, TrackEntry, TrackEvent, TrackingStore, TrackPage, TrackQuery, TrackTimeline } from './tracking-store.ts';

export class MemoryTrackingStore implements TrackingStore {
  private readonly entries = new Map<string, TrackEntry>();
  private events: (TrackEvent & { seq: number })[] = [];
  private seq = 0;
  private readonly max: number;
  private readonly cap: TimelineCap;

  constructor(max = 100_000, opts: { timelineEvents?: number } = {}) {
    this.max = max;
    this.cap = timelineCap(opts.timelineEvents);
  }

  async write(batch: TrackBatch): Promise<void> {
    for (const e of batch.entries) if (!this.entries.has(e.key)) this.entries.set(e.key, structuredClone(e));
    for (const u of batch.updates) {
      for (const e of this.entries.values()) {
        if (e.queue_id !== u.queue_id || (u.recipient !== null && e.recipient !== u.recipient)) continue;
        if (u.onlyIf && !u.onlyIf.includes(e.status)) continue;
        e.updated = u.updated;
        if (u.status !== undefined) e.status = u.status;
        if (u.rule !== undefined) e.rule = u.rule;
        if (u.code !== undefined) e.code = u.code;
        if (u.reply !== undefined) e.reply = u.reply;
        if (u.relay !== undefined) e.relay = u.relay;
        if (u.attempts !== undefined) e.attempts = u.attempts;
      }
    }
    for (const ev of batch.events) this.events.push({ at: ev.at, cid: ev.cid, tx: ev.tx ?? null, queue_id: ev.queue_id, event: ev.event, fields: structuredClone(ev.fields), seq: this.seq++ });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    if (this.events.length > 4 * this.max) this.events = this.events.slice(this.events.length - 4 * this.max);
  }

  async search(q: TrackQuery): Promise<TrackPage> {
    const n = normalizeQuery(q);
    const rows = [...this.entries.values()].filter((e) => matches(n, e)).sort(newerFirst).slice(0, n.limit + 1);
    return pageOf(rows.map((e) => structuredClone(e)), n.limit);
  }

  async timeline(idOrKey: string): Promise<TrackTimeline | null> {
    let entries: TrackEntry[];
    if (QUEUE_ID.test(idOrKey)) entries = [...this.entries.values()].filter((e) => e.queue_id === idOrKey);
    else {
      const e = this.entries.get(idOrKey);
      if (!e) return null;
      entries = e.queue_id !== null ? [...this.entries.values()].filter((x) => x.queue_id === e.queue_id) : [...this.entries.values()].filter((x) => x.queue_id === null && x.cid === e.cid && (x.tx ?? null) === (e.tx ?? null));
    }
    if (entries.length === 0) return null;
    entries.sort(byKey);
    const ids = new Set(entries.map((e) => e.queue_id).filter((x) => x !== null));
    const head = entries[0]!;
    const all = this.events
      .filter((ev) => (ev.queue_id !== null && ids.has(ev.queue_id)) || (head.cid !== null && ev.cid === head.cid && (ev.tx === 0 || (ev.tx ?? null) === (head.tx ?? null))))
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    const { events, omitted } = keptEvents(all, this.cap);
    return { entries: entries.map((e) => structuredClone(e)), events: events.map(({ seq: _seq, ...ev }) => structuredClone(ev)), truncated: omitted > 0, omitted };
  }

  async prune(before: number): Promise<number> {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (e.at < before) {
        this.entries.delete(k);
        n++;
      }
    }
    this.events = this.events.filter((ev) => ev.at >= before);
    return n;
  }

  async decisions(since: number, until: number, limit: number): Promise<{ tuples: DecisionTuple[]; truncated: boolean }> {
    const groups = new Map<string, DecisionTuple>();
    for (const e of this.entries.values()) {
      if (e.at < since || e.at >= until || !e.rcpt_action || e.client === null || e.sender === null || e.recipient === null) continue;
      const t = { client: e.client, listener: e.listener, user: e.user, sender: e.sender, recipient: e.recipient, action: e.rcpt_action, rule: e.rcpt_rule ?? null, code: e.rcpt_code ?? null };
      const k = JSON.stringify(t);
      const g = groups.get(k);
      if (g) {
        g.count++;
        g.first = Math.min(g.first, e.at);
        g.last = Math.max(g.last, e.at);
      } else groups.set(k, { ...t, count: 1, first: e.at, last: e.at });
    }
    const all = [...groups.values()].sort((a, b) => b.count - a.count || b.last - a.last);
    return { tuples: all.slice(0, limit), truncated: all.length > limit };
  }

  async top(what: 'refusal' | 'sender', since: number, n: number): Promise<TopRow[]> {
    const counts = new Map<string, number>();
    for (const e of this.entries.values()) {
      if (e.at < since || e.first === false) continue;
      const refused = e.status === 'refused' || e.status === 'tempfailed';
      let key: string | null = null;
      if (what === 'refusal' && refused) key = e.rule ?? 'unknown';
      if (what === 'sender' && !refused && e.cid !== null && e.sender !== null) key = e.sender === '' ? '<>' : e.sender.toLowerCase();
      if (key !== null) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([key, count]) => ({ key, count })).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1)).slice(0, n);
  }

  async close(): Promise<void> {}
}
