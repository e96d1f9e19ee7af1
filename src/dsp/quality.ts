/**
 * Per-window signal quality: hard failures (gap, lead-off, saturation, flatline, artefact swing,
 * implausible rhythm after Orphanidou et al. 2015) make a window `unusable`; the spectral and
 * kurtosis indices after Zhao & Zhang 2018 (kSQI, pSQI, basSQI) separate `good` from `acceptable`.
 */
export type QualityClass = 'good' | 'acceptable' | 'unusable';

/** Why a window is not `good`; a bit mask so that rating allocates nothing. */
export const QualityReason = {
  Gap: 1,
  LeadOff: 2,
  Saturated: 4,
  Flatline: 8,
  Artefact: 16,
  TooFewBeats: 32,
  HeartRateImplausible: 64,
  LongPause: 128,
  IrregularRr: 256,
  LowKurtosis: 512,
  SpectrumOff: 1024,
  BaselineWander: 2048,
} as const;

const HARD =
  QualityReason.Gap |
  QualityReason.LeadOff |
  QualityReason.Saturated |
  QualityReason.Flatline |
  QualityReason.Artefact |
  QualityReason.TooFewBeats |
  QualityReason.HeartRateImplausible |
  QualityReason.LongPause;

export function reasonNames(mask: number): string[] {
  return Object.entries(QualityReason)
    .filter(([, bit]) => (mask & bit) !== 0)
    .map(([name]) => name.charAt(0).toLowerCase() + name.slice(1));
}

export interface QualityInputs {
  gap: boolean;
  leadOffFraction: number;
  saturatedFraction: number;
  flatFraction: number;
  /** Peak-to-peak of the cleaned signal, mV. */
  swingMv: number;
  beats: number;
  meanHrBpm: number;
  /** Longest interval without a beat (including window edges), seconds. */
  longestPauseS: number;
  /** Longest / shortest RR within the window. */
  rrRatio: number;
  kurtosis: number;
  /** Power in the QRS band (5-15 Hz) over power of the cleaned signal. */
  pSqi: number;
  /** 1 - baseline (< 1 Hz) power over raw power. */
  basSqi: number;
}

export interface QualityThresholds {
  maxSaturatedFraction: number;
  maxFlatFraction: number;
  maxSwingMv: number;
  minHrBpm: number;
  maxHrBpm: number;
  maxPauseS: number;
  maxRrRatio: number;
  /** kSQI below this: unusable (noise-like, near-Gaussian). */
  minKurtosis: number;
  /** kSQI at or above this counts as good. */
  goodKurtosis: number;
  goodPSqi: [number, number];
  minBasSqi: number;
  goodBasSqi: number;
}

export const DEFAULT_THRESHOLDS: QualityThresholds = {
  maxSaturatedFraction: 0.005,
  maxFlatFraction: 0.0,
  maxSwingMv: 8,
  minHrBpm: 40,
  maxHrBpm: 180,
  maxPauseS: 3,
  maxRrRatio: 2.2,
  minKurtosis: 3,
  goodKurtosis: 5,
  goodPSqi: [0.2, 0.8],
  minBasSqi: 0.5,
  goodBasSqi: 0.9,
};

/** Returns the reason mask; the class follows from it (see classify). */
export function rateWindow(q: QualityInputs, t: QualityThresholds = DEFAULT_THRESHOLDS): number {
  let r = 0;
  if (q.gap) r |= QualityReason.Gap;
  if (q.leadOffFraction > 0) r |= QualityReason.LeadOff;
  if (q.saturatedFraction > t.maxSaturatedFraction) r |= QualityReason.Saturated;
  if (q.flatFraction > t.maxFlatFraction) r |= QualityReason.Flatline;
  if (q.swingMv > t.maxSwingMv) r |= QualityReason.Artefact;
  if (q.beats < 2) r |= QualityReason.TooFewBeats;
  else if (q.meanHrBpm < t.minHrBpm || q.meanHrBpm > t.maxHrBpm) r |= QualityReason.HeartRateImplausible;
  if (q.longestPauseS > t.maxPauseS) r |= QualityReason.LongPause;
  if (q.rrRatio > t.maxRrRatio) r |= QualityReason.IrregularRr;
  if (q.kurtosis < t.goodKurtosis) r |= QualityReason.LowKurtosis;
  if (q.pSqi < t.goodPSqi[0] || q.pSqi > t.goodPSqi[1]) r |= QualityReason.SpectrumOff;
  if (q.basSqi < t.goodBasSqi) r |= QualityReason.BaselineWander;
  return r;
}

export function classify(
  mask: number,
  q: QualityInputs,
  t: QualityThresholds = DEFAULT_THRESHOLDS,
): QualityClass {
  if ((mask & HARD) !== 0 || q.kurtosis < t.minKurtosis || q.basSqi < t.minBasSqi) return 'unusable';
  return mask === 0 ? 'good' : 'acceptable';
}
