import { VERSION } from '../version.js';
import type { Segment } from '../records/segments.js';
import { ecgSamples, ecgSeconds, type EventLog, type WindowRecord } from './event-log.js';
import { clock, esc, linePath, px, scale, ticks, timeAxis, valueAxis } from './svg.js';
import { percentileOfSorted as percentile } from '../percentile.js';
import { trainingOverlap } from './training-overlap.js';

export interface ReportOptions {
  /** The recording's labelled segments (stream seconds), when it has them. */
  segments?: Segment[];
  /** Where the ECG strip starts (stream seconds); default: the first good window. */
  stripFromS?: number;
  stripSeconds?: number;
  /** Title line, e.g. the log's file name. */
  title?: string;
}

// Each colour is used by one chart only, so a rendered page can be checked pixel by pixel.
export const COLORS = {
  ecg: '#0b3d91',
  rPeak: '#e4002b',
  hrWindow: '#ad1457',
  hrBeat: '#f3a6c4',
  quality: { good: '#2e7d32', acceptable: '#f9a825', unusable: '#c62828' },
  gap: '#000000',
  latency: '#546e7a',
  labels: ['#1f77b4', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'],
};

/** A label's colour mixed with white: the recording's labels, drawn behind the model's lines. */
export function tint(hex: string, keep = 0.35): string {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `#${c
    .map((v) =>
      Math.round(255 - (255 - v) * keep)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

const W = 1100;
const L = 64; // left margin for value labels
const R = 16;
const PW = W - L - R;

/**
 * The HTML report of a run: one self-contained file (inline SVG and CSS, no script, and a
 * Content-Security-Policy that forbids every fetch).
 */
export function htmlReport(log: EventLog, o: ReportOptions = {}): string {
  const s = log.start;
  const tEnd = log.ecg.reduce(
    (a, e) => Math.max(a, e.t0 + ecgSeconds(e)),
    Math.max(1, log.windows.at(-1)?.t1 ?? 0),
  );
  const x = scale(0, tEnd, L, L + PW);
  const sections = [
    summary(log, tEnd, o),
    ecgStrip(log, o),
    heartRate(log, x, tEnd),
    quality(log, x, tEnd),
    probabilities(log, x, tEnd, o.segments),
    latency(log.windows),
    o.segments ? agreement(log, o.segments) : '',
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="ecg-emotiond ${esc(VERSION)}">
<title>${esc(o.title ?? 'ecg-emotiond report')}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff;max-width:${W}px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}
table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
th{font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666;font-size:12px}svg{display:block}
.axis{stroke:#888}.grid{stroke:#eee}.tick{font-size:11px;fill:#666}.lbl{font-size:12px;fill:#333}
.key{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
</style></head><body>
<h1>ecg-emotiond report</h1>
<div class="note">${esc(o.title ?? '')} · vehicle id ${esc(s.vehicleId)} · started ${esc(s.startedAt)} · source ${esc(s.source)}</div>
${sections.join('\n')}
</body></html>
`;
}

function summary(log: EventLog, tEnd: number, o: ReportOptions): string {
  const s = log.start;
  const q = { good: 0, acceptable: 0, unusable: 0 };
  for (const w of log.windows) q[w.quality]++;
  const n = log.windows.length || 1;
  const pct = (v: number) => `${((100 * v) / n).toFixed(1)} %`;
  const beats = log.ecg.reduce((a, e) => a + e.beats.length, 0);
  const hr = log.windows.filter((w) => w.hrBpm !== null && w.quality !== 'unusable').map((w) => w.hrBpm!);
  const inferred = log.windows.filter((w) => w.p);
  const ev = { new: 0, update: 0, end: 0 };
  for (const e of log.events) ev[e.type]++;
  const rows: [string, string][] = [
    ['model', `${s.model.name} ${s.model.version} (${s.model.precision}) on ${s.provider}`],
    ['ECG', `${clock(tEnd)} (m:ss) of stream time${log.gaps.length ? `, ${log.gaps.length} gaps` : ''}`],
    [
      'windows',
      `${log.windows.length}: good ${q.good} (${pct(q.good)}), acceptable ${q.acceptable} (${pct(q.acceptable)}), unusable ${q.unusable} (${pct(q.unusable)})`,
    ],
    [
      'heart rate',
      hr.length
        ? `${beats ? `${beats} beats, ` : ''}window mean ${hr.reduce((a, v) => Math.min(a, v)).toFixed(0)}–${hr.reduce((a, v) => Math.max(a, v)).toFixed(0)} bpm`
        : 'no usable window',
    ],
    [
      'inference',
      `${inferred.length} windows${log.windows.some((w) => w.skipped) ? `, ${log.windows.filter((w) => w.skipped).length} skipped while busy` : ''}`,
    ],
    ['events', `new ${ev.new}, update ${ev.update}, end ${ev.end}`],
    [
      'labels',
      o.segments ? `${o.segments.length} labelled segments` : 'none (the recording has no labels file)',
    ],
  ];
  if (log.badLines.length)
    rows.push(['log', `${log.badLines.length} unreadable lines skipped (first: line ${log.badLines[0]})`]);
  return `<h2>Summary</h2><table>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

/** ECG paper: 10 s per row, 0.2 s and 0.5 mV major squares. */
function ecgStrip(log: EventLog, o: ReportOptions): string {
  if (!log.ecg.length) return '<h2>ECG</h2><p class="note">The log holds no ECG (eventLog.ecg was off).</p>';
  const rowS = 10;
  const seconds = o.stripSeconds ?? 20;
  const from = o.stripFromS ?? log.windows.find((w) => w.quality === 'good')?.t0 ?? log.ecg[0].t0;
  const to = from + seconds;
  const ts: number[] = [];
  const vs: number[] = [];
  const beats: number[] = [];
  for (const e of log.ecg) {
    if (e.t0 > to || e.t0 + ecgSeconds(e) < from) continue; // decode only what the strip shows
    const v = ecgSamples(e);
    for (let i = 0; i < v.length; i++) {
      const t = e.t0 + i / e.rateHz;
      if (t >= from && t < to) {
        ts.push(t);
        vs.push(v[i]);
      }
    }
    for (const b of e.beats) if (b >= from && b < to) beats.push(b);
  }
  if (!ts.length)
    return `<h2>ECG</h2><p class="note">No ECG logged between ${clock(from)} and ${clock(to)}.</p>`;
  // A robust amplitude range, so one artefact does not flatten the strip.
  const sorted = Float64Array.from(vs).sort();
  const lo = Math.min(-0.5, sorted[Math.floor(0.002 * (sorted.length - 1))] - 0.2);
  const hi = Math.max(1, sorted[Math.ceil(0.998 * (sorted.length - 1))] + 0.3);
  const rows = Math.ceil(seconds / rowS);
  const pxPerS = PW / rowS;
  const rowH = Math.min(220, Math.max(120, (hi - lo) * pxPerS * 0.4 + 10)); // 0.4 s per mV: ECG paper's 25 mm/s, 10 mm/mV
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const r0 = from + r * rowS;
    const x = scale(r0, r0 + rowS, L, L + PW);
    const y = scale(lo, hi, rowH - 6, 6);
    const grid: string[] = [];
    for (let t = 0; t <= rowS + 1e-9; t += 0.2)
      grid.push(`<line x1="${px(x(r0 + t))}" y1="0" x2="${px(x(r0 + t))}" y2="${rowH}" stroke="#f4cccc"/>`);
    for (let v = Math.ceil(lo * 2) / 2; v <= hi; v += 0.5)
      grid.push(`<line x1="${L}" y1="${px(y(v))}" x2="${L + PW}" y2="${px(y(v))}" stroke="#f4cccc"/>`);
    const xs: number[] = [];
    const ys: number[] = [];
    ts.forEach((t, i) => {
      if (t >= r0 && t < r0 + rowS) {
        xs.push(x(t));
        ys.push(y(vs[i]));
      }
    });
    const marks = beats
      .filter((b) => b >= r0 && b < r0 + rowS)
      .map((b) => {
        const bx = x(b);
        return `<path d="M${px(bx - 4)} 2L${px(bx + 4)} 2L${px(bx)} 10Z" fill="${COLORS.rPeak}"/>`;
      });
    out.push(
      `<svg width="${W}" height="${rowH + 18}" role="img" aria-label="ECG from ${clock(r0)}">` +
        `<text x="${L - 6}" y="14" class="tick" text-anchor="end">${clock(r0)}</text>${grid.join('')}` +
        `<path d="${linePath(xs, ys, 5)}" fill="none" stroke="${COLORS.ecg}" stroke-width="1.3"/>${marks.join('')}` +
        `<text x="${L}" y="${rowH + 14}" class="tick">0.2 s / 0.5 mV squares</text></svg>`,
    );
  }
  return `<h2>ECG, ${clock(from)}–${clock(to)}, cleaned, with the detected R-peaks (▼, ${beats.length})</h2>${out.join('')}`;
}

function heartRate(log: EventLog, x: (t: number) => number, tEnd: number): string {
  const H = 180;
  const beatT: number[] = [];
  const beatBpm: number[] = [];
  let prev = Number.NaN;
  for (const e of log.ecg) {
    for (const b of e.beats) {
      const bpm = 60 / (b - prev);
      if (bpm >= 20 && bpm <= 250) {
        beatT.push(b);
        beatBpm.push(bpm);
      }
      prev = b;
    }
  }
  const gapTimes = log.gaps.map((g) => g.t);
  const usable = log.windows.filter((w) => w.quality !== 'unusable' && w.hrBpm !== null);
  const all = [...usable.map((w) => w.hrBpm!), ...beatBpm];
  if (!all.length) return '<h2>Heart rate</h2><p class="note">No usable window.</p>';
  const sorted = all.sort((a, b) => a - b);
  const lo = Math.max(20, Math.floor((sorted[Math.floor(0.01 * (sorted.length - 1))] - 5) / 10) * 10);
  const hi = Math.min(250, Math.ceil((sorted[Math.ceil(0.99 * (sorted.length - 1))] + 5) / 10) * 10);
  const inBox = scale(lo, hi, H - 24, 8);
  // The range leaves out the top and bottom 1 % (missed or extra beats): those stay on the box's edge.
  const y = (v: number) => inBox(Math.min(hi, Math.max(lo, v)));
  // Instantaneous rate breaks at gaps; the window mean breaks where windows were unusable.
  const breakBeats = (t: number, i: number) => gapTimes.some((g) => g > beatT[i - 1] && g <= t);
  const bx = beatT.map((t, i) => (i > 0 && breakBeats(t, i) ? Number.NaN : x(t)));
  const wx = usable.map((w) => x(w.t1));
  const hop = medianHop(log.windows);
  return `<h2>Heart rate</h2>
<div class="note"><span class="key" style="background:${COLORS.hrBeat}"></span>beat to beat<span class="key" style="background:${COLORS.hrWindow}"></span>window mean (usable windows)</div>
<svg width="${W}" height="${H}" role="img" aria-label="heart rate">
${valueAxis(inBox, lo, hi, L, L + PW, '')}<text x="4" y="12" class="tick">bpm</text>
<path d="${linePath(bx, beatBpm.map(y))}" fill="none" stroke="${COLORS.hrBeat}" stroke-width="1"/>
<path d="${linePath(
    wx,
    usable.map((w) => y(w.hrBpm!)),
    Math.max(3, x(2.5 * hop) - x(0)),
  )}" fill="none" stroke="${COLORS.hrWindow}" stroke-width="2"/>
${timeAxis(x, 0, tEnd, H - 22)}</svg>`;
}

function medianHop(ws: WindowRecord[]): number {
  if (ws.length < 2) return 1;
  const d = ws
    .slice(1)
    .map((w, i) => w.t1 - ws[i].t1)
    .sort((a, b) => a - b);
  return d[d.length >> 1] || 1;
}

/** One band: each window paints the hop it added (from the previous window's end to its own). */
function quality(log: EventLog, x: (t: number) => number, tEnd: number): string {
  const H = 64;
  const hop = medianHop(log.windows);
  const rects: string[] = [];
  let run: { q: string; a: number; b: number } | null = null;
  const emit = () => {
    if (run)
      rects.push(
        `<rect x="${px(x(run.a))}" y="8" width="${px(Math.max(0.5, x(run.b) - x(run.a)))}" height="24" fill="${COLORS.quality[run.q as keyof typeof COLORS.quality]}"/>`,
      );
  };
  let prevEnd = Number.NaN;
  for (const w of log.windows) {
    const a = Number.isFinite(prevEnd) ? (w.t1 - prevEnd <= 2 * hop ? prevEnd : w.t1 - hop) : w.t0;
    if (run && run.q === w.quality && Math.abs(run.b - a) < 1e-6) run.b = w.t1;
    else {
      emit();
      run = { q: w.quality, a, b: w.t1 };
    }
    prevEnd = w.t1;
  }
  emit();
  const gaps = log.gaps
    .map(
      (g) =>
        `<line x1="${px(x(g.t))}" y1="4" x2="${px(x(g.t))}" y2="36" stroke="${COLORS.gap}" stroke-width="2"/>`,
    )
    .join('');
  const key = (['good', 'acceptable', 'unusable'] as const)
    .map((q) => `<span class="key" style="background:${COLORS.quality[q]}"></span>${q}`)
    .join('');
  return `<h2>Signal quality</h2><div class="note">${key}${log.gaps.length ? '<span class="key" style="background:#000;width:2px"></span>gap' : ''}</div>
<svg width="${W}" height="${H}" role="img" aria-label="signal quality" shape-rendering="crispEdges">${rects.join('')}${gaps}
${timeAxis(x, 0, tEnd, 40)}</svg>`;
}

function probabilities(
  log: EventLog,
  x: (t: number) => number,
  tEnd: number,
  segments: Segment[] | undefined,
): string {
  const H = 262;
  const labels = log.start.model.labels;
  const color = (label: string) => COLORS.labels[Math.max(0, labels.indexOf(label)) % COLORS.labels.length];
  const y = scale(0, 1, H - 24, 84);
  const overlap = overlapOf(log);
  const inferred = log.windows.filter((w) => w.p);
  const hop = medianHop(log.windows);
  const lines = labels
    .map((label, k) => {
      const d = linePath(
        inferred.map((w) => x(w.t1)),
        inferred.map((w) => y(w.p![k])),
        Math.max(3, x(4 * hop) - x(0)),
      );
      return `<path d="${d}" fill="none" stroke="${color(label)}" stroke-width="1.5"/>`;
    })
    .join('');
  // Recording labels (tinted) and the decided episodes (solid), as two bands above the plot.
  const band = (a: number, b: number, yTop: number, fill: string, text: string) =>
    `<rect x="${px(x(a))}" y="${yTop}" width="${px(Math.max(0.5, x(b) - x(a)))}" height="18" fill="${fill}"/>` +
    (x(b) - x(a) > 60 ? `<text x="${px(x(a) + 4)}" y="${yTop + 13}" class="lbl">${esc(text)}</text>` : '');
  const truth = (segments ?? [])
    .filter((g) => g.startS < tEnd)
    .map((g) => band(g.startS, Math.min(g.endS, tEnd), 30, tint(color(g.label)), `${g.name}: ${g.label}`))
    .join('');
  const episodes: string[] = [];
  let open: { label: string; t: number } | null = null;
  for (const e of log.events) {
    if (e.type === 'new') open = { label: e.label, t: e.t };
    else if (e.type === 'end' && open) {
      episodes.push(band(open.t, e.t, 54, color(open.label), open.label));
      open = null;
    }
  }
  if (open) episodes.push(band(open.t, tEnd, 54, color(open.label), open.label));
  const key = labels.map((l) => `<span class="key" style="background:${color(l)}"></span>${esc(l)}`).join('');
  // Whether these windows were in the model's training data, in the figure itself.
  return `<h2>Class probabilities, ${overlap.kind}</h2>
<div class="note">${key} · top band: the recording's labels${segments ? '' : ' (none)'} · second band: the episodes the daemon published</div>
<svg width="${W}" height="${H}" role="img" aria-label="class probabilities, ${overlap.kind}">
<text x="${L}" y="16" class="lbl" font-weight="600">${esc(overlap.text)}</text>
<text x="${L - 6}" y="43" class="tick" text-anchor="end">labels</text><text x="${L - 6}" y="67" class="tick" text-anchor="end">episodes</text>
${truth}${episodes.join('')}${valueAxis(y, 0, 1, L, L + PW, '')}${lines}
${timeAxis(x, 0, tEnd, H - 22)}</svg>`;
}

const overlapOf = (log: EventLog) => {
  const s = log.start;
  return trainingOverlap({ ...s, model: s.model.name, trainedOn: s.model.trainedOn });
};

function latency(windows: WindowRecord[]): string {
  const total = windows
    .filter((w) => w.totalMs !== undefined)
    .map((w) => w.totalMs!)
    .sort((a, b) => a - b);
  const inf = windows
    .filter((w) => w.inferenceMs !== undefined)
    .map((w) => w.inferenceMs!)
    .sort((a, b) => a - b);
  if (!total.length) return '<h2>Latency</h2><p class="note">No window was inferred.</p>';
  const H = 200;
  const top = Math.max(1, percentile(total, 0.995) * 1.15);
  const step = ticks(0, top, 30)[1] ?? top / 30;
  const bins = new Array<number>(Math.ceil(top / step)).fill(0);
  let over = 0;
  for (const v of total) {
    const b = Math.floor(v / step);
    if (b < bins.length) bins[b]++;
    else over++;
  }
  const x = scale(0, bins.length * step, L, L + PW);
  const y = scale(0, Math.max(...bins), H - 24, 8);
  const bars = bins
    .map(
      (c, i) =>
        `<rect x="${px(x(i * step) + 1)}" y="${px(y(c))}" width="${px(x(step) - x(0) - 2)}" height="${px(y(0) - y(c))}" fill="${COLORS.latency}"/>`,
    )
    .join('');
  const axis = ticks(0, bins.length * step, 10)
    .map((v) => `<text x="${px(x(v))}" y="${H - 6}" class="tick" text-anchor="middle">${v} ms</text>`)
    .join('');
  const mark = (v: number, text: string) =>
    `<line x1="${px(x(v))}" y1="4" x2="${px(x(v))}" y2="${H - 24}" stroke="#333" stroke-dasharray="4 3"/>` +
    `<text x="${px(x(v) + 4)}" y="14" class="tick">${text}</text>`;
  const row = (name: string, v: number[]) =>
    `<tr><th>${name}</th><td class="num">${percentile(v, 0.5).toFixed(1)}</td><td class="num">${percentile(v, 0.99).toFixed(1)}</td><td class="num">${v[v.length - 1].toFixed(1)}</td><td class="num">${v.length}</td></tr>`;
  return `<h2>Latency</h2>
<div class="note">From the arrival of the frame that completed a window to its decision; the dashed line is its p99.${over ? ` ${over} windows above ${top.toFixed(0)} ms are not drawn.` : ''}</div>
<svg width="${W}" height="${H}" role="img" aria-label="latency histogram">${bars}${mark(percentile(total, 0.99), `p99 ${percentile(total, 0.99).toFixed(1)} ms`)}${axis}</svg>
<table><tr><th>ms</th><th class="num">p50</th><th class="num">p99</th><th class="num">max</th><th class="num">windows</th></tr>${row('window to decision', total)}${inf.length ? row('inference', inf) : ''}</table>`;
}

/** Each inferred window's most probable class against the label of the segment holding it. */
function agreement(log: EventLog, segments: Segment[]): string {
  const labels = log.start.model.labels;
  const m = labels.map(() => labels.map(() => 0));
  let n = 0;
  let hits = 0;
  for (const w of log.windows) {
    if (!w.p) continue;
    const seg = segments.find((g) => w.t0 >= g.startS && w.t1 <= g.endS);
    const truth = seg ? labels.indexOf(seg.label) : -1;
    if (truth < 0) continue;
    const pred = w.p.indexOf(Math.max(...w.p));
    m[truth][pred]++;
    n++;
    if (pred === truth) hits++;
  }
  if (!n)
    return '<h2>Against the labels</h2><p class="note">No inferred window lies inside a labelled segment.</p>';
  const head = `<tr><th>label \\ model</th>${labels.map((l) => `<th class="num">${esc(l)}</th>`).join('')}</tr>`;
  const rows = labels
    .map((l, i) => `<tr><th>${esc(l)}</th>${m[i].map((c) => `<td class="num">${c}</td>`).join('')}</tr>`)
    .join('');
  const model = log.start.model;
  // Always answering the most frequent label here scores this much: agreement must be read against it.
  const counts = m.map((r) => r.reduce((a, b) => a + b, 0));
  const top = counts.indexOf(Math.max(...counts));
  const majority = counts[top] / n;
  const overlap = overlapOf(log);
  const meaning =
    overlap.kind === 'in-sample'
      ? ' In-sample agreement: the model saw these windows in training, so this is no evidence of recognising anything on other drivers.'
      : overlap.kind === 'unknown'
        ? ' Whether the model saw these windows in training is unknown.'
        : '';
  const evidence = model.evidence ? ` Its own figures: ${esc(model.evidence)}.` : '';
  return `<h2>Against the labels, ${overlap.kind}</h2><div class="note">${esc(overlap.text)}. ${n} inferred windows inside labelled segments; the most probable class matches the label in ${hits} (${((100 * hits) / n).toFixed(1)} %, ${overlap.kind} agreement); always answering "${esc(labels[top])}" would match ${(100 * majority).toFixed(1)} %.${meaning}${evidence}</div><table>${head}${rows}</table>`;
}
