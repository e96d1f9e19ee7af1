/** Recent beat times (absolute sample indices at the model rate) in a fixed ring, oldest first. */
export class BeatRing {
  private readonly at: Float64Array;
  private count = 0;
  private head = 0;

  constructor(capacity = 512) {
    this.at = new Float64Array(capacity);
  }

  push(index: number): void {
    this.at[this.head] = index;
    this.head = (this.head + 1) % this.at.length;
    if (this.count < this.at.length) this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** i-th oldest beat held. */
  get(i: number): number {
    return this.at[(this.head - this.count + i + this.at.length) % this.at.length];
  }
}

export interface HeartRateStats {
  beats: number;
  meanBpm: number;
  minBpm: number;
  maxBpm: number;
  /** Root mean square of successive differences of NN intervals, ms. */
  rmssdMs: number;
  /** Standard deviation of NN intervals, ms. */
  sdnnMs: number;
  /** Share of successive NN differences over 50 ms. */
  pnn50: number;
  /** RR intervals in the window, and how many of them count as NN (normal-to-normal). */
  rrIntervals: number;
  nnIntervals: number;
  /** Longest interval without a beat in [start, horizon), s. */
  longestPauseS: number;
  rrRatio: number;
}

export function emptyHeartRate(): HeartRateStats {
  return {
    beats: 0,
    meanBpm: Number.NaN,
    minBpm: Number.NaN,
    maxBpm: Number.NaN,
    rmssdMs: Number.NaN,
    sdnnMs: Number.NaN,
    pnn50: Number.NaN,
    rrIntervals: 0,
    nnIntervals: 0,
    longestPauseS: 0,
    rrRatio: 1,
  };
}

/**
 * An RR interval is NN when it lies within 20 % of the median of the intervals around it (three
 * each side): an ectopic beat makes a short interval and a long compensatory one, a missed or an
 * extra beat a double or two halves, and each of those falls outside.
 */
export const NN_TOLERANCE = 0.2;
const NN_NEIGHBOURS = 3;

/** Reusable buffers for heartRateIn (sized once; a window holds at most `capacity` intervals). */
export class RrScratch {
  readonly rr: Float64Array;
  readonly around = new Float64Array(2 * NN_NEIGHBOURS + 1);
  constructor(capacity = 512) {
    this.rr = new Float64Array(capacity);
  }
}

/** The median of the intervals i-3..i+3 (those that exist), by insertion sort into `around`. */
function localMedian(rr: Float64Array, count: number, i: number, around: Float64Array): number {
  let n = 0;
  for (let k = Math.max(0, i - NN_NEIGHBOURS); k <= Math.min(count - 1, i + NN_NEIGHBOURS); k++) {
    const v = rr[k];
    let j = n++;
    while (j > 0 && around[j - 1] > v) {
      around[j] = around[j - 1];
      j--;
    }
    around[j] = v;
  }
  return n & 1 ? around[n >> 1] : 0.5 * (around[(n >> 1) - 1] + around[n >> 1]);
}

/**
 * Heart rate and HRV of the beats in [start, end); `horizon` (<= end) is how far beats are final.
 * Heart rate uses every RR interval; RMSSD, SDNN and pNN50 use NN intervals only (NN_TOLERANCE).
 * Writes into `out` (no allocation).
 */
export function heartRateIn(
  beats: BeatRing,
  start: number,
  end: number,
  horizon: number,
  rateHz: number,
  out: HeartRateStats,
  scratch: RrScratch,
): void {
  const rrs = scratch.rr;
  let n = 0;
  let prev = Number.NaN;
  let first = Number.NaN;
  let rrCount = 0;
  let sumRr = 0;
  let minRr = Number.POSITIVE_INFINITY;
  let maxRr = 0;
  // Beats are held oldest first: step back from the newest to the first one in the window.
  let from = beats.size;
  while (from > 0 && beats.get(from - 1) >= start) from--;
  for (let i = from; i < beats.size; i++) {
    const b = beats.get(i);
    if (b >= end) break;
    if (n === 0) first = b;
    else if (rrCount < rrs.length) {
      const rr = (b - prev) / rateHz;
      rrs[rrCount++] = rr;
      sumRr += rr;
      if (rr < minRr) minRr = rr;
      if (rr > maxRr) maxRr = rr;
    }
    prev = b;
    n++;
  }
  out.beats = n;
  out.rrIntervals = rrCount;
  const lead = n === 0 ? (horizon - start) / rateHz : (first - start) / rateHz;
  const tail = n === 0 ? 0 : Math.max(0, (horizon - prev) / rateHz);
  out.longestPauseS = Math.max(lead, tail, maxRr);
  out.nnIntervals = 0;
  out.rmssdMs = out.sdnnMs = out.pnn50 = Number.NaN;
  if (rrCount === 0) {
    out.meanBpm = out.minBpm = out.maxBpm = Number.NaN;
    out.rrRatio = 1;
    return;
  }
  out.meanBpm = 60 / (sumRr / rrCount);
  out.minBpm = 60 / maxRr;
  out.maxBpm = 60 / minRr;
  out.rrRatio = maxRr / minRr;
  nnVariability(rrs, rrCount, scratch.around, out);
}

/** RMSSD, SDNN and pNN50 of the NN intervals among `rr[0..count)`. */
function nnVariability(rr: Float64Array, count: number, around: Float64Array, out: HeartRateStats): void {
  let nn = 0;
  let sum = 0;
  let sum2 = 0;
  let diffs = 0;
  let sumDiff2 = 0;
  let over50 = 0;
  let prevNn = Number.NaN; // the previous interval, if it was NN
  for (let i = 0; i < count; i++) {
    const v = rr[i];
    const median = localMedian(rr, count, i, around);
    if (Math.abs(v - median) > NN_TOLERANCE * median) {
      prevNn = Number.NaN;
      continue;
    }
    nn++;
    sum += v;
    sum2 += v * v;
    if (!Number.isNaN(prevNn)) {
      const d = v - prevNn;
      diffs++;
      sumDiff2 += d * d;
      if (Math.abs(d) > 0.05) over50++;
    }
    prevNn = v;
  }
  out.nnIntervals = nn;
  if (nn > 0) {
    const mean = sum / nn;
    out.sdnnMs = 1000 * Math.sqrt(Math.max(0, sum2 / nn - mean * mean));
  }
  if (diffs > 0) {
    out.rmssdMs = 1000 * Math.sqrt(sumDiff2 / diffs);
    out.pnn50 = over50 / diffs;
  }
}
