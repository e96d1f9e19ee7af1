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
 * Which RR intervals count as NN (normal-to-normal), judged beat by beat against the median of the
 * last five NN intervals (the rhythm): a beat is ectopic if it comes more than 20 % early, or 10 %
 * early with the next interval 10 % long (the short-long pair of a late ectopic beat and its
 * compensatory pause); its interval and the one after it are not NN. An interval over 1.8 x the
 * rhythm holds a missed beat (about 2 x, less while the rhythm slows). Everything else stays, as
 * annotators keep it: slow respiratory swings, irregular rhythms, pauses short of 1.8 x. Against
 * the annotators' N-to-N RMSSD on MIT-BIH, a symmetric 20 % band around the local median kept 42 %
 * of 5-minute windows within 10 %, this rule 52 % (chosen on the tuning half of the records;
 * docs/benchmarks.md).
 */
const NN_PREMATURE = 0.2;
const NN_MISSED = 1.8;
const NN_SHORT_LONG = 0.1;
const NN_HISTORY = 5;

/** Reusable buffers for heartRateIn (sized once; a window holds at most `capacity` intervals). */
export class RrScratch {
  readonly rr: Float64Array;
  /** A copy of the window's intervals to find their median in. */
  readonly work: Float64Array;
  /** The last NN_HISTORY NN intervals (a ring), and a sorted copy of them. */
  readonly history = new Float64Array(NN_HISTORY);
  readonly sorted = new Float64Array(NN_HISTORY);
  constructor(capacity = 512) {
    this.rr = new Float64Array(capacity);
    this.work = new Float64Array(capacity);
  }
}

/** The median of `values[0..count)`, by quickselect in `work` (values are left as they are). */
function medianOf(values: Float64Array, count: number, work: Float64Array): number {
  for (let i = 0; i < count; i++) work[i] = values[i];
  const upper = selectKth(work, count, count >> 1);
  if (count & 1) return upper;
  let lower = Number.NEGATIVE_INFINITY; // the largest of the half below (quickselect left it there)
  for (let i = 0; i < count >> 1; i++) if (work[i] > lower) lower = work[i];
  return 0.5 * (lower + upper);
}

/** Hoare's quickselect: the k-th smallest of `a[0..n)`, with every smaller value moved before it. */
function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

/** The median of the `count` intervals in the history ring, by insertion sort into `sorted`. */
function historyMedian(history: Float64Array, count: number, sorted: Float64Array): number {
  for (let n = 0; n < count; n++) {
    const v = history[n];
    let j = n;
    while (j > 0 && sorted[j - 1] > v) {
      sorted[j] = sorted[j - 1];
      j--;
    }
    sorted[j] = v;
  }
  return count & 1 ? sorted[count >> 1] : 0.5 * (sorted[(count >> 1) - 1] + sorted[count >> 1]);
}

/**
 * Heart rate and HRV of the beats in [start, end); `horizon` (<= end) is how far beats are final.
 * Heart rate uses every RR interval; RMSSD, SDNN and pNN50 use NN intervals only (see NN_PREMATURE).
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
  nnVariability(rrs, rrCount, scratch, out);
}

/** RMSSD, SDNN and pNN50 of the NN intervals among `rr[0..count)`. */
function nnVariability(rr: Float64Array, count: number, scratch: RrScratch, out: HeartRateStats): void {
  // Until NN intervals are seen, the window's median stands in for the recent rhythm.
  const windowMedian = medianOf(rr, count, scratch.work);
  const history = scratch.history;
  let held = 0; // NN intervals in the history ring
  let head = 0;
  let nn = 0;
  let sum = 0;
  let sum2 = 0;
  let diffs = 0;
  let sumDiff2 = 0;
  let over50 = 0;
  let prevNn = Number.NaN; // the previous interval, if it was NN
  let afterEctopic = false;
  for (let i = 0; i < count; i++) {
    const v = rr[i];
    const recent = held === 0 ? windowMedian : historyMedian(history, held, scratch.sorted);
    let isNn = !afterEctopic;
    afterEctopic = false;
    const next = i + 1 < count ? rr[i + 1] : Number.NaN;
    if (
      v < (1 - NN_PREMATURE) * recent ||
      (v < (1 - NN_SHORT_LONG) * recent && next > (1 + NN_SHORT_LONG) * recent)
    ) {
      isNn = false;
      afterEctopic = true;
    } else if (v > NN_MISSED * recent) {
      isNn = false;
    } else if (isNn) {
      history[head] = v;
      head = (head + 1) % NN_HISTORY;
      if (held < NN_HISTORY) held++;
    }
    if (!isNn) {
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
