// Live log: the server-sent events of GET /api/log (one JSON log line per
// `log` event), newest at the top, at most 500 lines kept. Pause keeps
// collecting (also bounded) and shows the lines on Resume.

import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { TextField } from '../components/Fields.tsx';

const MAX = 500;

interface Line {
  seq: number;
  ts: string;
  event: string;
  rest: string;
  raw: string;
}

let seq = 0;

function toLine(data: string): Line {
  let fields: Record<string, unknown> = {};
  try {
    fields = JSON.parse(data) as Record<string, unknown>;
  } catch {
    fields = { event: 'unparsed', text: data };
  }
  const { ts, event, ...rest } = fields;
  const restText = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
    .join(' ');
  return { seq: ++seq, ts: typeof ts === 'string' || typeof ts === 'number' ? String(ts) : '', event: String(event ?? ''), rest: restText, raw: data };
}

function timeOf(ts: string): string {
  const d = new Date(/^\d+$/.test(ts) ? Number(ts) : ts);
  if (Number.isNaN(d.getTime())) return ts;
  return `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

const severity = (event: string, rest: string) =>
  /refused|reject|error|fail|blackholed|limit/.test(event) || /action=reject/.test(rest) ? 'bad' : /defer|tempfail|warn|held|quarantin/.test(event) || /action=tempfail/.test(rest) ? 'warn' : '';

export function LiveLog() {
  const [lines, setLines] = useState<Line[]>([]);
  const [paused, setPaused] = useState(false);
  const [waiting, setWaiting] = useState(0);
  const [status, setStatus] = useState<'connecting' | 'live' | 'reconnecting' | 'closed'>('connecting');
  const [filter, setFilter] = useState('');
  const incoming = useRef<Line[]>([]);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    const es = new EventSource('/api/log');
    es.onopen = () => setStatus('live');
    es.addEventListener('log', (e) => {
      incoming.current.unshift(toLine((e as MessageEvent<string>).data));
      if (incoming.current.length > MAX) incoming.current.length = MAX;
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        setStatus('closed');
        // A lost session: asking /api/me brings the login page back.
        void get('/api/me').catch(() => {});
      } else setStatus('reconnecting');
    };
    // Batched: a busy relay logs many lines a second.
    const t = window.setInterval(() => {
      if (pausedRef.current) {
        setWaiting(incoming.current.length);
        return;
      }
      if (incoming.current.length === 0) return;
      const fresh = incoming.current;
      incoming.current = [];
      setWaiting(0);
      setLines((prev) => [...fresh, ...prev].slice(0, MAX));
    }, 250);
    return () => {
      window.clearInterval(t);
      es.close();
    };
  }, []);

  const f = filter.trim().toLowerCase();
  const shown = f ? lines.filter((l) => l.raw.toLowerCase().includes(f)) : lines;

  return (
    <section class="page">
      <h1>Live Log</h1>
      <div class="card">
        <div class="toolbar">
          <span class={`live-status ${paused && status === 'live' ? 'paused' : status}`} role="status" data-testid="log-status">
            {status === 'live' ? (paused ? 'Paused' : 'Live') : status === 'connecting' ? 'Connecting…' : status === 'reconnecting' ? 'Reconnecting…' : 'Disconnected'}
          </span>
          <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)} data-testid="log-pause">
            {paused ? `Resume${waiting ? ` (${waiting} new)` : ''}` : 'Pause'}
          </button>
          <button type="button" onClick={() => setLines([])}>
            Clear
          </button>
          <TextField label="Filter" value={filter} onInput={setFilter} placeholder="text in the line" />
          <span class="muted">
            {shown.length} of {lines.length} lines (newest first, at most {MAX})
          </span>
        </div>
        <ol class="log" aria-label="Log lines, newest first" data-testid="log-lines">
          {shown.map((l) => (
            <li key={l.seq} class={`log-line ${severity(l.event, l.rest)}`}>
              <time>{timeOf(l.ts)}</time> <span class="ev">{l.event}</span> <span class="fields">{l.rest}</span>
            </li>
          ))}
          {shown.length === 0 ? <li class="muted">{lines.length ? 'No line matches the filter.' : 'Waiting for log lines…'}</li> : null}
        </ol>
      </div>
    </section>
  );
}
