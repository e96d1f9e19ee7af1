import { type Annotation, isBeat } from '../records/wfdb-annotations.js';

/**
 * Beat-by-beat scoring as ANSI/AAMI EC57 and PhysioNet's `bxb` report it: reference beats mapped to
 * the five AAMI classes, ventricular flutter/fibrillation excluded, a learning period skipped.
 */
export const AAMI_CLASSES = ['N', 'S', 'V', 'F', 'Q'] as const;
export type AamiClass = (typeof AAMI_CLASSES)[number];

/** MIT-BIH beat symbols to AAMI classes (EC57 table 3; `B`, `n` and `r` as bxb maps them). */
const AAMI_OF: Record<string, AamiClass> = {
  N: 'N',
  L: 'N',
  R: 'N',
  e: 'N',
  j: 'N',
  B: 'N',
  A: 'S',
  a: 'S',
  J: 'S',
  S: 'S',
  n: 'S',
  V: 'V',
  E: 'V',
  r: 'V',
  F: 'F',
  '/': 'Q',
  f: 'Q',
  Q: 'Q',
  '?': 'Q',
};

export function aamiClassOf(symbol: string): AamiClass {
  return AAMI_OF[symbol] ?? 'Q';
}

const VF_ON = 32; // '['
const VF_OFF = 33; // ']'
const FLUTTER_WAVE = 31; // '!'
const RHYTHM = 28; // '+', aux names the rhythm

/** A reference beat: its time (s) and AAMI class. */
export interface ReferenceBeat {
  timeS: number;
  aami: AamiClass;
}

export interface ScoringReference {
  beats: ReferenceBeat[];
  /** Stretches left out of the comparison (VF/flutter), in seconds. */
  excluded: Array<[number, number]>;
}

/**
 * The reference beats of an annotation list and the VF/flutter stretches to leave out: `[` to `]`,
 * rhythm `(VFL` to the next rhythm change, and 100 ms around each isolated `!` flutter wave.
 */
export function scoringReference(annotations: readonly Annotation[], rateHz: number): ScoringReference {
  const beats: ReferenceBeat[] = [];
  const excluded: Array<[number, number]> = [];
  let vfFrom = Number.NaN;
  let rhythmVfFrom = Number.NaN;
  for (const a of annotations) {
    const t = a.sample / rateHz;
    if (isBeat(a.code)) beats.push({ timeS: t, aami: aamiClassOf(a.symbol) });
    else if (a.code === VF_ON) vfFrom = Number.isNaN(vfFrom) ? t : vfFrom;
    else if (a.code === VF_OFF && !Number.isNaN(vfFrom)) {
      excluded.push([vfFrom, t]);
      vfFrom = Number.NaN;
    } else if (a.code === FLUTTER_WAVE) excluded.push([t - 0.1, t + 0.1]);
    else if (a.code === RHYTHM) {
      const vf = (a.aux ?? '').startsWith('(VF');
      if (!Number.isNaN(rhythmVfFrom) && !vf) {
        excluded.push([rhythmVfFrom, t]);
        rhythmVfFrom = Number.NaN;
      } else if (vf && Number.isNaN(rhythmVfFrom)) rhythmVfFrom = t;
    }
  }
  const end = Number.POSITIVE_INFINITY;
  if (!Number.isNaN(vfFrom)) excluded.push([vfFrom, end]);
  if (!Number.isNaN(rhythmVfFrom)) excluded.push([rhythmVfFrom, end]);
  return { beats, excluded: mergeIntervals(excluded) };
}

function mergeIntervals(list: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

function inside(t: number, intervals: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [a, b] of intervals) if (t >= a && t <= b) return true;
  return false;
}

export interface ClassCount {
  tp: number;
  fn: number;
}

export interface RecordScore {
  record: string;
  tp: number;
  fn: number;
  fp: number;
  sensitivity: number;
  ppv: number;
  /** Sensitivity per AAMI class; classes without reference beats are absent. */
  byClass: Partial<Record<AamiClass, ClassCount>>;
  /** Seconds of VF/flutter left out of the comparison. */
  excludedS: number;
}

function countsOf(
  record: string,
  tp: number,
  fn: number,
  fp: number,
  byClass: Partial<Record<AamiClass, ClassCount>>,
  excludedS: number,
): RecordScore {
  const sensitivity = tp + fn === 0 ? 1 : tp / (tp + fn);
  return { record, tp, fn, fp, sensitivity, ppv: tp + fp === 0 ? 1 : tp / (tp + fp), byClass, excludedS };
}

export interface ScoreOptions {
  toleranceS: number;
  /** Beats before this time (s) are left out: EC57's learning period is 300 s. */
  fromS?: number;
  toS?: number;
  /** Keep VF/flutter stretches in the comparison. */
  keepVf?: boolean;
}

/**
 * Scores detected beat times (s, ascending) against a reference. A detection matches the nearest
 * unmatched reference beat within the tolerance; each is used once.
 */
export function scoreRecord(
  record: string,
  reference: ScoringReference,
  detectedS: readonly number[],
  options: ScoreOptions,
): RecordScore {
  const from = options.fromS ?? 0;
  const to = options.toS ?? Number.POSITIVE_INFINITY;
  const excluded = options.keepVf ? [] : reference.excluded;
  const kept = (t: number) => t >= from && t < to && !inside(t, excluded);
  const ref = reference.beats.filter((b) => kept(b.timeS));
  const det = detectedS.filter(kept);
  const tol = options.toleranceS;
  const byClass: Partial<Record<AamiClass, ClassCount>> = {};
  const count = (c: AamiClass, hit: boolean) => {
    const k = (byClass[c] ??= { tp: 0, fn: 0 });
    if (hit) k.tp++;
    else k.fn++;
  };
  let i = 0;
  let j = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  while (i < ref.length || j < det.length) {
    const r = ref[i]?.timeS ?? Number.POSITIVE_INFINITY;
    const d = det[j] ?? Number.POSITIVE_INFINITY;
    if (i < ref.length && j < det.length && Math.abs(r - d) <= tol) {
      // If the next detection is closer to this reference beat, this detection is the extra one;
      // if the next reference beat is closer to this detection, this reference beat was missed.
      if (j + 1 < det.length && Math.abs(r - det[j + 1]) < Math.abs(r - d)) {
        fp++;
        j++;
      } else if (i + 1 < ref.length && Math.abs(ref[i + 1].timeS - d) < Math.abs(r - d)) {
        fn++;
        count(ref[i].aami, false);
        i++;
      } else {
        tp++;
        count(ref[i].aami, true);
        i++;
        j++;
      }
    } else if (d < r) {
      fp++;
      j++;
    } else {
      fn++;
      count(ref[i].aami, false);
      i++;
    }
  }
  let excludedS = 0;
  for (const [a, b] of excluded) excludedS += Math.max(0, Math.min(b, to) - Math.max(a, from));
  return countsOf(record, tp, fn, fp, byClass, options.keepVf ? 0 : excludedS);
}

export interface Ec57Summary {
  records: RecordScore[];
  /** Sums of TP, FN, FP over the records. */
  gross: RecordScore;
  /** Mean of the per-record figures. */
  average: { sensitivity: number; ppv: number };
}

export function summarizeScores(records: RecordScore[]): Ec57Summary {
  const byClass: Partial<Record<AamiClass, ClassCount>> = {};
  let tp = 0;
  let fn = 0;
  let fp = 0;
  let excludedS = 0;
  for (const r of records) {
    tp += r.tp;
    fn += r.fn;
    fp += r.fp;
    excludedS += r.excludedS;
    for (const c of AAMI_CLASSES) {
      const k = r.byClass[c];
      if (!k) continue;
      const sum = (byClass[c] ??= { tp: 0, fn: 0 });
      sum.tp += k.tp;
      sum.fn += k.fn;
    }
  }
  const mean = (f: (r: RecordScore) => number) =>
    records.length === 0 ? Number.NaN : records.reduce((s, r) => s + f(r), 0) / records.length;
  return {
    records,
    gross: countsOf('gross', tp, fn, fp, byClass, excludedS),
    average: { sensitivity: mean((r) => r.sensitivity), ppv: mean((r) => r.ppv) },
  };
}

const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(2) : '-');

/** The bxb-style table: a row per record, then gross and average. */
export function formatEc57Table(summary: Ec57Summary): string {
  const head = ['record', 'TP', 'FN', 'FP', 'Se %', '+P %', ...AAMI_CLASSES.map((c) => `Se ${c}`), 'VF s'];
  const row = (r: RecordScore) => [
    r.record,
    String(r.tp),
    String(r.fn),
    String(r.fp),
    pct(r.sensitivity),
    pct(r.ppv),
    ...AAMI_CLASSES.map((c) => {
      const k = r.byClass[c];
      return k ? pct(k.tp / (k.tp + k.fn)) : '-';
    }),
    r.excludedS > 0 ? r.excludedS.toFixed(1) : '-',
  ];
  const rows = [head, ...summary.records.map(row), row(summary.gross)];
  const avg = ['average', '', '', '', pct(summary.average.sensitivity), pct(summary.average.ppv)];
  rows.push([...avg, ...Array<string>(head.length - avg.length).fill('')]);
  const widths = head.map((_, k) => Math.max(...rows.map((r) => r[k].length)));
  return rows
    .map((r) => r.map((cell, k) => (k === 0 ? cell.padEnd(widths[k]) : cell.padStart(widths[k]))).join('  '))
    .join('\n');
}
