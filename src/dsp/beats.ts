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
  /** Root mean square of successive RR differences, ms. */
  rmssdMs: number;
  /** Standard deviation of RR intervals, ms. */
  sdnnMs: number;
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
    longestPauseS: 0,
    rrRatio: 1,
  };
}

/**
 * Heart rate and HRV of the beats in [start, end); `horizon` (<= end) is how far beats are final.
 * Writes into `out` (no allocation).
 */
export function heartRateIn(
  beats: BeatRing,
  start: number,
  end: number,
  horizon: number,
  rateHz: number,
  out: HeartRateStats,
): void {
  let n = 0;
  let prev = Number.NaN;
  let sumRr = 0;
  let sumRr2 = 0;
  let sumDiff2 = 0;
  let prevRr = Number.NaN;
  let minRr = Number.POSITIVE_INFINITY;
  let maxRr = 0;
  let first = Number.NaN;
  let rrCount = 0;
  // Beats are held oldest first: step back from the newest to the first one in the window.
  let from = beats.size;
  while (from > 0 && beats.get(from - 1) >= start) from--;
  for (let i = from; i < beats.size; i++) {
    const b = beats.get(i);
    if (b >= end) break;
    if (n === 0) first = b;
    else {
      const rr = (b - prev) / rateHz;
      sumRr += rr;
      sumRr2 += rr * rr;
      if (rr < minRr) minRr = rr;
      if (rr > maxRr) maxRr = rr;
      if (!Number.isNaN(prevRr)) sumDiff2 += (rr - prevRr) ** 2;
      prevRr = rr;
      rrCount++;
    }
    prev = b;
    n++;
  }
  out.beats = n;
  const lead = n === 0 ? (horizon - start) / rateHz : (first - start) / rateHz;
  const tail = n === 0 ? 0 : Math.max(0, (horizon - prev) / rateHz);
  out.longestPauseS = Math.max(lead, tail, maxRr);
  if (rrCount === 0) {
    out.meanBpm = out.minBpm = out.maxBpm = out.rmssdMs = out.sdnnMs = Number.NaN;
    out.rrRatio = 1;
    return;
  }
  const mean = sumRr / rrCount;
  out.meanBpm = 60 / mean;
  out.minBpm = 60 / maxRr;
  out.maxBpm = 60 / minRr;
  out.sdnnMs = 1000 * Math.sqrt(Math.max(0, sumRr2 / rrCount - mean * mean));
  out.rmssdMs = rrCount > 1 ? 1000 * Math.sqrt(sumDiff2 / (rrCount - 1)) : Number.NaN;
  out.rrRatio = maxRr / minRr;
}
