// Charts as plain inline SVG (no chart library): a line chart of several
// series over time, and a horizontal bar list. Both come with a text form
// for screen readers.

import { linkClick } from '../router.ts';

export interface Series {
  name: string;
  /** A CSS class that sets the line colour (see styles.css). */
  cls: string;
  values: number[];
  /**
   * Line width, when not the usual 2: a series that often equals one drawn
   * after it (Accepted under Relayed) is drawn wider, so that it shows as a
   * border around the other instead of hiding under it.
   */
  width?: number;
}

const W = 600;
const H = 180;
const PAD = { left: 34, right: 8, top: 10, bottom: 22 };

function niceMax(n: number): number {
  if (n <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

export function LineChart({ title, labels, series }: { title: string; labels: string[]; series: Series[] }) {
  const n = Math.max(1, labels.length);
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i: number) => PAD.left + (n === 1 ? 0 : (i * (W - PAD.left - PAD.right)) / (n - 1));
  const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const ticks = [0, max / 2, max];
  const xTicks = [0, Math.floor((n - 1) / 2), n - 1];
  const totals = series.map((s) => `${s.name} ${s.values.reduce((a, b) => a + b, 0)}`).join(', ');
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: totals over the hour: ${totals}`}>
        <title>{title}</title>
        {ticks.map((t) => (
          <g key={t} class="grid">
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} />
            <text x={PAD.left - 4} y={y(t) + 4} text-anchor="end">
              {Number.isInteger(t) ? t : t.toFixed(1)}
            </text>
          </g>
        ))}
        {xTicks.map((i, k) => (
          <text key={k} class="xlabel" x={x(i)} y={H - 6} text-anchor={k === 0 ? 'start' : k === 2 ? 'end' : 'middle'}>
            {labels[i] ?? ''}
          </text>
        ))}
        {series.map((s) => (
          <polyline key={s.name} class={`line ${s.cls}`} data-series={s.name} fill="none" style={s.width ? { strokeWidth: s.width } : undefined} points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')} />
        ))}
      </svg>
      <figcaption class="legend">
        {series.map((s) => (
          <span key={s.name} class="legend-item" data-testid={`legend-${s.cls}`}>
            <span class={`swatch ${s.cls}`} aria-hidden="true" />
            {s.name}: {s.values.reduce((a, b) => a + b, 0)}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** `link`: where a row's name leads (an in-app path), when it should be a link. */
export function BarList({ rows, label, empty, link }: { rows: { name: string; value: number }[]; label: string; empty: string; link?: (name: string) => string }) {
  if (rows.length === 0) return <p class="muted">{empty}</p>;
  const max = Math.max(...rows.map((r) => r.value), 1);
  return (
    <ul class="barlist" aria-label={label}>
      {rows.map((r) => (
        <li key={r.name}>
          <span class="bar-name">
            {link ? (
              <a href={link(r.name)} onClick={(e) => linkClick(e, link(r.name))}>
                {r.name}
              </a>
            ) : (
              r.name
            )}
          </span>
          <span class="bar-track" aria-hidden="true">
            <span class="bar-fill" style={{ width: `${(r.value / max) * 100}%` }} />
          </span>
          <span class="bar-value">{r.value}</span>
        </li>
      ))}
    </ul>
  );
}
