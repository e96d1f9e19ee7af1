import { BeatRing, emptyHeartRate, heartRateIn, RrScratch } from '../dsp/beats.js';
import type { WindowSummary } from './analyze-record.js';
import type { ReferenceBeat } from './ec57.js';

/** Detector against reference in one stretch of a record. */
export interface HrvWindow {
  startS: number;
  detectedBpm: number;
  referenceBpm: number;
  /** RMSSD of the detector's NN intervals and of the reference's N-to-N intervals, ms. */
  detectedRmssdMs: number;
  referenceRmssdMs: number;
  /**
   * RMSSD of the reference beats' intervals that the daemon's NN rule keeps, ms: what the rule
   * gives with perfect beats, so detector error and rule error can be told apart.
   */
  ruleOnReferenceRmssdMs: number;
}

const MAX_BEATS = 2048; // 5 min at 400 bpm

/** Beats in ms, so that heartRateIn reads them at 1000 "samples" per second. */
function ringOf(timesS: readonly number[], from: number, to: number, ring: BeatRing): void {
  for (const t of timesS) if (t >= from && t < to) ring.push(Math.round(t * 1e6) / 1e3);
}

/** 60 / mean RR of the beats in [from, to), or NaN with fewer than two. */
function meanBpm(timesS: readonly number[], from: number, to: number): number {
  let first = Number.NaN;
  let last = Number.NaN;
  let n = 0;
  for (const t of timesS) {
    if (t < from || t >= to) continue;
    if (n === 0) first = t;
    last = t;
    n++;
  }
  return n < 2 ? Number.NaN : (60 * (n - 1)) / (last - first);
}

/** RMSSD (ms) over adjacent intervals between reference beats of class N only. */
function referenceNnRmssd(beats: readonly ReferenceBeat[], from: number, to: number): number {
  let sum = 0;
  let count = 0;
  let prevRr = Number.NaN;
  for (let i = 1; i < beats.length; i++) {
    const a = beats[i - 1];
    const b = beats[i];
    if (a.timeS < from || b.timeS >= to) {
      prevRr = Number.NaN;
      continue;
    }
    if (a.aami !== 'N' || b.aami !== 'N') {
      prevRr = Number.NaN;
      continue;
    }
    const rr = b.timeS - a.timeS;
    if (!Number.isNaN(prevRr)) {
      sum += (rr - prevRr) ** 2;
      count++;
    }
    prevRr = rr;
  }
  return count === 0 ? Number.NaN : 1000 * Math.sqrt(sum / count);
}

/**
 * HR and RMSSD per `windowS` stretch: the detector's beats through the daemon's own heartRateIn
 * (NN intervals), the reference's from its beats (HR) and its N-to-N intervals (RMSSD).
 */
export function hrvWindows(
  reference: readonly ReferenceBeat[],
  detectedS: readonly number[],
  durationS: number,
  windowS = 300,
): HrvWindow[] {
  const out: HrvWindow[] = [];
  const refTimes = reference.map((b) => b.timeS);
  const scratch = new RrScratch(MAX_BEATS);
  const stats = emptyHeartRate();
  const statsOf = (timesS: readonly number[], start: number, end: number) => {
    const ring = new BeatRing(MAX_BEATS);
    ringOf(timesS, start, end, ring);
    heartRateIn(ring, start * 1000, end * 1000, end * 1000, 1000, stats, scratch);
    return stats;
  };
  for (let start = 0; start + windowS <= durationS + 1e-9; start += windowS) {
    const end = start + windowS;
    const ruleOnReferenceRmssdMs = statsOf(refTimes, start, end).rmssdMs;
    const detected = statsOf(detectedS, start, end);
    out.push({
      startS: start,
      detectedBpm: detected.meanBpm,
      referenceBpm: meanBpm(refTimes, start, end),
      detectedRmssdMs: detected.rmssdMs,
      referenceRmssdMs: referenceNnRmssd(reference, start, end),
      ruleOnReferenceRmssdMs,
    });
  }
  return out;
}

export interface HrvAgreement {
  windows: number;
  /** Share of windows with detector HR within 1 bpm of the reference. */
  hrWithin1Bpm: number;
  /** Share of windows with detector RMSSD within 10 % of the reference's N-N RMSSD. */
  rmssdWithin10Percent: number;
  /** Windows with reference N-N intervals (a paced record has none); the RMSSD shares count these. */
  rmssdWindows: number;
  /** The same share with the reference beats through the NN rule in place of the detector's. */
  ruleWithin10Percent: number;
  /** Share of windows where the detector's RMSSD is within 10 % of the NN rule's on the reference beats. */
  detectorWithin10PercentOfRule: number;
}

const within10 = (a: number, b: number) => Math.abs(a - b) <= 0.1 * b;

export function hrvAgreement(windows: readonly HrvWindow[]): HrvAgreement {
  const hrOk = windows.filter((w) => Math.abs(w.detectedBpm - w.referenceBpm) <= 1).length;
  const comparable = windows.filter((w) => Number.isFinite(w.referenceRmssdMs));
  const share = (ok: (w: HrvWindow) => boolean) =>
    comparable.length ? comparable.filter(ok).length / comparable.length : Number.NaN;
  const n = windows.length;
  return {
    windows: n,
    hrWithin1Bpm: n ? hrOk / n : Number.NaN,
    rmssdWindows: comparable.length,
    rmssdWithin10Percent: share((w) => within10(w.detectedRmssdMs, w.referenceRmssdMs)),
    ruleWithin10Percent: share((w) => within10(w.ruleOnReferenceRmssdMs, w.referenceRmssdMs)),
    detectorWithin10PercentOfRule: share((w) => within10(w.detectedRmssdMs, w.ruleOnReferenceRmssdMs)),
  };
}

export interface QualityAgreement {
  /** Windows rated good or acceptable, and how many of those have HR within 5 bpm of the reference. */
  usable: number;
  usableHrWithin5Bpm: number;
  unusable: number;
}

/**
 * Whether the windows the quality stage lets through carry a true heart rate: the reference's over
 * the same stretch as the window's (its beats until `beatsUntilS`).
 */
export function qualityAgreement(
  windows: readonly WindowSummary[],
  referenceS: readonly number[],
): QualityAgreement {
  let usable = 0;
  let ok = 0;
  let unusable = 0;
  for (const w of windows) {
    if (w.quality === 'unusable') {
      unusable++;
      continue;
    }
    usable++;
    const ref = meanBpm(referenceS, w.startS, w.beatsUntilS);
    if (Math.abs(w.meanHrBpm - ref) <= 5) ok++;
  }
  return { usable, usableHrWithin5Bpm: ok, unusable };
}
