import { butterworthBandpass } from './filter-design.js';
import { SosCascade } from './sos-cascade.js';

/**
 * Streaming QRS detector after Pan & Tompkins (1985) and Hamilton & Tompkins (1986):
 * band-pass 5-15 Hz → 5-point derivative → square → 150 ms moving-window integral (MWI);
 * MWI peaks are held for 200 ms (a larger one replaces them), then classified against an adaptive
 * threshold between the running means of recent QRS and noise peak heights. A peak within 360 ms
 * of the last beat whose slope is under half the last QRS slope is a T wave. Missed beats are
 * recovered by search-back at half threshold, decided no later than `maxDelayS` after the peak
 * (where Hamilton waits 1.5 RR), so every beat is reported at most `maxDelayS` after it happened:
 * peak confirmation (<= 95 ms) + hold (200 ms) + R-to-MWI-peak lag (<= 200 ms) stays under 0.5 s.
 */
export interface DetectorOptions {
  sampleRateHz: number;
  /** Largest allowed decision delay (peak to report), seconds. */
  maxDelayS?: number;
  /** Largest frame passed to `process`. */
  maxFrame?: number;
}

const HISTORY = 8;

export class RPeakDetector {
  readonly sampleRateHz: number;
  readonly maxDelaySamples: number;
  /** Called with the absolute sample index of the R peak and the index at which it was decided. */
  onBeat: (peakIndex: number, decidedAt: number) => void = () => {};

  private readonly bandFilter: SosCascade;
  /** The 5-15 Hz band-passed copy of the last frame (signal quality reads its power). */
  readonly band: Float64Array;
  // Derivative / MWI state
  private readonly d = new Float64Array(4);
  private readonly mwiRing: Float64Array;
  private mwiPos = 0;
  private mwiSum = 0;
  // Delay lines of the cleaned input (R location) and of the slope (T-wave test)
  private readonly xRing: Float64Array;
  private readonly slopeRing: Float64Array;
  private readonly ringMask: number;
  private n = 0; // absolute index of the next input sample
  // Peak picking on the MWI
  private mwiMax = 0;
  private mwiMaxAt = 0;
  private held = 0; // height of the held candidate peak (0: none)
  private heldAt = 0;
  // Adaptive levels
  private readonly qrsPeaks = new Float64Array(HISTORY);
  private readonly noisePeaks = new Float64Array(HISTORY);
  private readonly rrs = new Float64Array(HISTORY);
  private qrsMean = 0;
  private noiseMean = 0;
  private rrMean: number;
  private threshold = 0;
  private lastBeatMwiAt = Number.NEGATIVE_INFINITY;
  private lastQrsSlope = 0;
  // Search-back candidate: the largest sub-threshold peak since the last beat (+360 ms)
  private sbPeak = 0;
  private sbAt = 0;
  private sbBeatAfter = false;
  // Re-learning: after a long stretch without beats (an artefact inflated the QRS level), the levels
  // restart from the largest peak seen since.
  private recentMax = 0;
  private lastRelearn = 0;
  // Learning: the first 2 s set the initial levels
  private learnUntil: number;
  private learnMax = 0;
  /** Sample index from which timedEvents must run (see schedule). */
  private nextEvent = 0;
  private readonly window150: number;
  private readonly ms200: number;
  private readonly ms360: number;
  private readonly ms95: number;
  private readonly rLookback: number;
  private readonly relearnAfter: number;

  constructor(options: DetectorOptions) {
    const fs = options.sampleRateHz;
    this.sampleRateHz = fs;
    this.maxDelaySamples = Math.round((options.maxDelayS ?? 0.5) * fs);
    this.bandFilter = new SosCascade(butterworthBandpass(2, 5, 15, fs));
    this.band = new Float64Array(options.maxFrame ?? 4096);
    this.window150 = Math.round(0.15 * fs);
    this.ms200 = Math.round(0.2 * fs);
    this.ms360 = Math.round(0.36 * fs);
    this.ms95 = Math.round(0.095 * fs);
    this.rLookback = Math.round(0.2 * fs);
    this.relearnAfter = Math.round(2.5 * fs);
    this.mwiRing = new Float64Array(this.window150);
    let size = 1;
    while (size < Math.round(1.0 * fs)) size <<= 1;
    this.ringMask = size - 1;
    this.xRing = new Float64Array(size);
    this.slopeRing = new Float64Array(size);
    this.rrMean = fs; // 60 bpm until learnt
    this.learnUntil = 2 * fs;
  }

  /** Resets after a gap in the signal: levels are kept, timing restarts. */
  restartTiming(): void {
    this.lastBeatMwiAt = Number.NEGATIVE_INFINITY;
    this.held = 0;
    this.sbPeak = 0;
    this.mwiMax = 0;
    this.schedule();
  }

  /** Feeds cleaned samples x[offset..offset+length), length <= maxFrame. Indices continue across calls. */
  process(x: Float64Array, offset: number, length: number): void {
    const mwiRing = this.mwiRing;
    const w150 = this.window150;
    const mask = this.ringMask;
    const band = this.band;
    const xRing = this.xRing;
    const slopeRing = this.slopeRing;
    const ms95 = this.ms95;
    const learnUntil = this.learnUntil;
    for (let i = 0; i < length; i++) band[i] = x[offset + i];
    this.bandFilter.process(band, 0, length);
    // The per-sample path keeps its state in locals; anything else happens in the rare slow calls,
    // which see the state written back first.
    let [d0, d1, d2, d3] = this.d;
    let mwiSum = this.mwiSum;
    let mwiPos = this.mwiPos;
    let mwiMax = this.mwiMax;
    let mwiMaxAt = this.mwiMaxAt;
    let n = this.n;
    for (let i = 0; i < length; i++, n++) {
      xRing[n & mask] = x[offset + i];
      const b = band[i];
      // 5-point derivative (Pan-Tompkins): (2x[n] + x[n-1] - x[n-3] - 2x[n-4]) / 8
      const deriv = (2 * b + d0 - d2 - 2 * d3) * 0.125;
      d3 = d2;
      d2 = d1;
      d1 = d0;
      d0 = b;
      slopeRing[n & mask] = deriv < 0 ? -deriv : deriv;
      const sq = deriv * deriv;
      mwiSum += sq - mwiRing[mwiPos];
      mwiRing[mwiPos] = sq;
      mwiPos = mwiPos + 1 === w150 ? 0 : mwiPos + 1;
      const mwi = mwiSum > 0 ? mwiSum : 0; // the running sum can dip below 0 by rounding
      if (n < learnUntil) this.learn(mwi, n);
      // Peak picking: a local maximum confirmed once the MWI falls to half of it or 95 ms pass.
      if (mwi > mwiMax) {
        mwiMax = mwi;
        mwiMaxAt = n;
      } else if (mwiMax > 0 && (mwi < mwiMax * 0.5 || n - mwiMaxAt > ms95)) {
        this.n = n + 1;
        this.onMwiPeak(mwiMax, mwiMaxAt);
        this.mwiMax = mwiMax = 0;
      }
      if (n >= this.nextEvent) {
        this.n = n + 1;
        this.timedEvents(n);
      }
    }
    this.d[0] = d0;
    this.d[1] = d1;
    this.d[2] = d2;
    this.d[3] = d3;
    this.mwiSum = mwiSum;
    this.mwiPos = mwiPos;
    this.mwiMax = mwiMax;
    this.mwiMaxAt = mwiMaxAt;
    this.n = n;
  }

  /** The first 2 s: the largest MWI value sets the initial QRS level. */
  private learn(mwi: number, n: number): void {
    if (mwi > this.learnMax) this.learnMax = mwi;
    if (n + 1 === this.learnUntil) {
      this.qrsPeaks.fill(this.learnMax * 0.5);
      this.noisePeaks.fill(0);
      this.qrsMean = this.learnMax * 0.5;
      this.noiseMean = 0;
      this.updateThreshold();
    }
  }

  /** Decisions that fall due with time: the held peak, re-learning, search-back. */
  private timedEvents(n: number): void {
    // A held peak is classified once 200 ms pass without a larger one.
    if (this.held > 0 && n - this.heldAt >= this.ms200) {
      const h = this.held;
      this.held = 0;
      if (n >= this.learnUntil) this.classify(h, this.heldAt, n);
    }
    if (
      n >= this.learnUntil &&
      n - Math.max(this.lastBeatMwiAt, this.lastRelearn) > this.relearnAfter &&
      this.recentMax > 0
    ) {
      this.qrsPeaks.fill(this.recentMax * 0.5);
      this.qrsMean = this.recentMax * 0.5;
      this.noisePeaks.fill(Math.min(this.noiseMean, this.recentMax * 0.125));
      this.noiseMean = this.noisePeaks[0];
      this.updateThreshold();
      this.recentMax = 0;
      this.lastRelearn = n;
    }
    // Search-back, at the latest when the candidate would exceed the allowed decision delay.
    if (this.sbPeak > 0 && n >= this.learnUntil) {
      const dueByRhythm = n - this.lastBeatMwiAt > 1.5 * this.rrMean;
      // The R peak lies at most rLookback before its MWI peak: decide before R + maxDelay.
      const dueByDelay = n - this.sbAt >= this.maxDelaySamples - this.rLookback;
      if (dueByRhythm || dueByDelay) {
        if (!this.sbBeatAfter && this.sbPeak > 0.5 * this.threshold && this.held < this.threshold) {
          const sinceLast = this.sbAt - this.lastBeatMwiAt;
          if (dueByRhythm || sinceLast > 0.75 * this.rrMean) this.acceptBeat(this.sbPeak, this.sbAt, n, true);
        }
        this.sbPeak = 0;
      }
    }
    this.schedule();
  }

  /**
   * The earliest sample at which a timed decision can fall due (never later than the real one;
   * timedEvents re-checks each condition exactly).
   */
  private schedule(): void {
    let t = Number.POSITIVE_INFINITY;
    if (this.held > 0) t = this.heldAt + this.ms200;
    let afterLearning = Number.POSITIVE_INFINITY;
    if (this.recentMax > 0) {
      afterLearning = Math.max(this.lastBeatMwiAt, this.lastRelearn) + this.relearnAfter;
    }
    if (this.sbPeak > 0) {
      afterLearning = Math.min(
        afterLearning,
        this.lastBeatMwiAt + 1.5 * this.rrMean,
        this.sbAt + this.maxDelaySamples - this.rLookback,
      );
    }
    this.nextEvent = Math.min(t, Math.max(afterLearning, this.learnUntil));
  }

  private onMwiPeak(height: number, at: number): void {
    if (height > this.recentMax) this.recentMax = height;
    if (this.held === 0 || height > this.held) {
      // A larger peak replaces the held one, which was not a QRS: it counts as noise.
      if (this.held > 0 && at >= this.learnUntil) this.addNoise(this.held, this.heldAt);
      this.held = height;
      this.heldAt = at;
    } else if (at >= this.learnUntil) {
      this.addNoise(height, at);
    }
    this.schedule();
  }

  private classify(height: number, at: number, now: number): void {
    if (height > this.threshold) {
      if (at - this.lastBeatMwiAt < this.ms360) {
        const slope = this.maxSlope(at);
        if (slope < 0.5 * this.lastQrsSlope) {
          this.addNoise(height, at);
          return;
        }
      }
      if (at - this.lastBeatMwiAt < this.ms200) {
        this.addNoise(height, at);
        return;
      }
      if (this.sbPeak > 0 && this.sbAt < at) this.sbBeatAfter = true;
      this.acceptBeat(height, at, now, false);
    } else {
      this.addNoise(height, at);
    }
  }

  private addNoise(height: number, at: number): void {
    this.noiseMean += (height - this.noisePeaks[0]) / HISTORY;
    this.noisePeaks.copyWithin(0, 1);
    this.noisePeaks[HISTORY - 1] = height;
    this.updateThreshold();
    if (at - this.lastBeatMwiAt > this.ms360 && height > this.sbPeak) {
      this.sbPeak = height;
      this.sbAt = at;
      this.sbBeatAfter = false;
    }
  }

  private acceptBeat(height: number, at: number, now: number, searchback: boolean): void {
    const rr = at - this.lastBeatMwiAt;
    if (Number.isFinite(rr) && rr < 3 * this.sampleRateHz) {
      // Search-back beats are weighted as QRS but their RR is trusted like any other.
      this.rrMean += (rr - this.rrs[0]) / HISTORY;
      this.rrs.copyWithin(0, 1);
      this.rrs[HISTORY - 1] = rr;
    }
    const h = searchback ? Math.max(height, this.threshold) : height;
    this.qrsMean += (h - this.qrsPeaks[0]) / HISTORY;
    this.qrsPeaks.copyWithin(0, 1);
    this.qrsPeaks[HISTORY - 1] = h;
    this.updateThreshold();
    this.lastBeatMwiAt = at;
    this.lastQrsSlope = this.maxSlope(at);
    this.sbPeak = 0;
    this.recentMax = 0;
    const r = this.locateR(at);
    this.onBeat(r, now);
  }

  private updateThreshold(): void {
    this.threshold = this.noiseMean + 0.3125 * (this.qrsMean - this.noiseMean);
  }

  /** Largest slope in the 150 ms before an MWI peak. */
  private maxSlope(at: number): number {
    let m = 0;
    const from = Math.max(at - this.window150, this.n - this.ringMask);
    for (let k = from; k <= at; k++) {
      const s = this.slopeRing[k & this.ringMask];
      if (s > m) m = s;
    }
    return m;
  }

  /** The R peak: the largest deviation of the cleaned signal in the QRS before the MWI peak. */
  private locateR(at: number): number {
    let best = at;
    let bestV = -1;
    const from = Math.max(at - this.rLookback, this.n - this.ringMask, 0);
    for (let k = from; k <= at; k++) {
      const v = Math.abs(this.xRing[k & this.ringMask]);
      if (v > bestV) {
        bestV = v;
        best = k;
      }
    }
    return best;
  }
}
