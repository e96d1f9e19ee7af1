/** Small helpers for hand-written inline SVG charts: no library, no script, no network. */

export const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A linear map from a data range onto a pixel range. */
export function scale(d0: number, d1: number, p0: number, p1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (p1 - p0) / (d1 - d0);
  return (v) => p0 + (v - d0) * k;
}

const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

/**
 * An SVG path through (x, y) points in pixels. Points further apart than `breakPx` are not joined
 * (a gap in the data stays a gap). Runs of points within one pixel column are reduced to their
 * minimum and maximum, so a day of data draws as fast as a minute.
 */
export function linePath(xs: ArrayLike<number>, ys: ArrayLike<number>, breakPx = Infinity): string {
  let d = '';
  let col = Number.NaN;
  let lo = 0;
  let hi = 0;
  let first = 0;
  let last = 0;
  let prevX = Number.NaN;
  const flush = () => {
    if (Number.isNaN(col)) return;
    // Entry and exit values keep the trace continuous between columns.
    d += `L${f1(col)} ${f1(first)}`;
    if (hi !== lo) d += `L${f1(col)} ${f1(lo)}L${f1(col)} ${f1(hi)}`;
    d += `L${f1(col)} ${f1(last)}`;
  };
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const y = ys[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      flush();
      col = Number.NaN;
      prevX = Number.NaN;
      continue;
    }
    const c = Math.round(x);
    if (c === col) {
      lo = Math.min(lo, y);
      hi = Math.max(hi, y);
      last = y;
    } else {
      flush();
      const jump = Number.isNaN(prevX) || x - prevX > breakPx;
      d += `${jump ? 'M' : 'L'}${f1(c)} ${f1(y)}`;
      col = c;
      lo = hi = first = last = y;
    }
    prevX = x;
  }
  flush();
  return d.replace(/^L/, 'M');
}

/** Round tick values for an axis over [lo, hi], about `count` of them. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

/** Seconds as m:ss or h:mm:ss for time axes. */
export function clock(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Clock-friendly steps for time axes: seconds, minutes, hours. */
const TIME_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];

function timeTicks(t0: number, t1: number, count: number): number[] {
  const step = TIME_STEPS.find((s) => (t1 - t0) / s <= count) ?? 86400;
  const out: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) out.push(t);
  return out;
}

/** A time axis along the bottom of a plot area. */
export function timeAxis(x: (s: number) => number, t0: number, t1: number, y: number): string {
  return timeTicks(t0, t1, 8)
    .map(
      (t) =>
        `<line x1="${f1(x(t))}" y1="${y}" x2="${f1(x(t))}" y2="${y + 4}" class="axis"/>` +
        `<text x="${f1(x(t))}" y="${y + 16}" class="tick" text-anchor="middle">${clock(t)}</text>`,
    )
    .join('');
}

/** A value axis with light grid lines across the plot area. */
export function valueAxis(
  y: (v: number) => number,
  lo: number,
  hi: number,
  x0: number,
  x1: number,
  unit: string,
): string {
  return ticks(lo, hi, 4)
    .map(
      (v) =>
        `<line x1="${x0}" y1="${f1(y(v))}" x2="${x1}" y2="${f1(y(v))}" class="grid"/>` +
        `<text x="${x0 - 6}" y="${f1(y(v) + 4)}" class="tick" text-anchor="end">${v}${unit}</text>`,
    )
    .join('');
}

export { f1 as px };
