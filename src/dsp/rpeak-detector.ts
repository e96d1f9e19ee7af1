import { butterworthBandpass } from './filter-design.js';
import type { SampleRing } from './ring-buffer.js';
import { DspArena, InputOffset } from './wasm/arena.js';

/**
 * Streaming QRS detector after Pan & Tompkins (1985) and Hamilton & Tompkins (1986):
 * band-pass 5-15 Hz → 5-point derivative → |derivative| → 150 ms moving-window integral (MWI).
 * Integrating |derivative| as Hamilton does, rather than its square, keeps wide, low-slope
 * ventricular and aberrant beats within reach of the threshold set by sharp normal beats.
 * MWI peaks are held for 200 ms (a larger one replaces them), then classified against an adaptive
 * threshold, 28 % of the way from the running mean of recent noise peak heights to that of QRS
 * peaks (Hamilton: 31 %). A peak within 300 ms of the last beat whose slope is under half the last
 * QRS slope is a T wave. Where the MWI was busy before a peak (noise: see noisyBefore), it must
 * clear the threshold by 30 % unless it comes within 15 % of the mean RR after the last beat, and
 * search-back is off; this holds false beats in electrode-motion noise down. Missed beats are
 * recovered by search-back: the largest peak since the last beat (outside its T-wave zone) is a
 * beat if it reaches half the threshold, has a quarter of the last QRS's slope and comes at least
 * 0.6 mean RR after the last beat (premature ventricular and aberrated beats are wide and
 * low-slope), and no beat-sized peak is already rising behind it (then it is that beat's P wave).
 * It is decided no later than `maxDelayS` after the peak (where Hamilton waits 1.5 RR), so every
 * beat is reported at most `maxDelayS` after it happened: R-to-MWI-peak lag (<= 200 ms) + hold
 * (200 ms, longer only while the delay allows). A held peak with one twice its size rising behind
 * it when its decision falls due is not a beat: a tall P wave ahead of its QRS.
 *
 * Detection runs on every `decimation`-th sample (250 Hz from 500 Hz; Pan & Tompkins designed it
 * for 200 Hz), which halves its cost; the R peak itself is then located at the full rate. The
 * cleaned input is already low-passed at 40 Hz, so taking every second sample aliases nothing into
 * the 5-15 Hz band.
 *
 * The constants were chosen on 13 of the 25 shared MIT-BIH records (and the noise rule on nstdb
 * 118e12) and checked on the other 12 (`npm run bench:peaks`); docs/benchmarks.md names the rules
 * that were found by looking at a held-out record.
 */
export interface DetectorOptions {
  /** Rate of the input; beats are reported at this rate. */
  sampleRateHz: number;
  /** Largest allowed decision delay (peak to report), seconds. */
  maxDelayS?: number;
  /** Most samples one `process` call brings. */
  maxFrame: number;
  /**
   * Lends the detector `RPeakDetector.arenaBytes(sampleRateHz, maxFrame)`; each frame given to
   * `process` is a buffer of it.
   */
  arena: DspArena;
  /**
   * The cleaned stream, filled by the caller up to the end of each frame before `process` (the R
   * peak is located in it); it must hold the last second.
   */
  clean: SampleRing;
}

/**
 * A frame's QRS-band samples (at the detector's rate): band[j] is frame position
 * bandFirst + j * decimation, for j < bandLength.
 */
export interface QrsBand {
  readonly band: Float64Array;
  readonly bandFirst: number;
  readonly bandLength: number;
  readonly decimation: number;
}

const HISTORY = 8;
/** The band-pass sections' x1 x2 y1 y2, the band's last four values and the MWI's running sum. */
const FEATURE_STATE = 13;

/**
 * The mean of the last HISTORY values, updated by the value that leaves (a ring, where shifting an
 * array cost a builtin call per MWI peak, several per beat). Starts at 0 over zeros.
 */
class RecentMean {
  mean = 0;
  private readonly values = new Float64Array(HISTORY);
  private head = 0; // the oldest value

  push(v: number): void {
    this.mean += (v - this.values[this.head]) / HISTORY;
    this.values[this.head] = v;
    this.head = (this.head + 1) & (HISTORY - 1);
  }

  /** Every value, and so the mean, becomes `v`. */
  fill(v: number): void {
    this.values.fill(v);
    this.mean = v;
  }
}

/** The lowest rate detection runs at (Pan & Tompkins' own). */
const MIN_DETECTION_RATE_HZ = 200;

export class RPeakDetector implements QrsBand {
  readonly sampleRateHz: number;
  /** Largest decision delay, in input samples. */
  readonly maxDelaySamples: number;
  /** Detection runs on input samples whose absolute index is a multiple of this. */
  readonly decimation: number;
  /** Called with the absolute input-rate index of the R peak and the index at which it was decided. */
  onBeat: (peakIndex: number, decidedAt: number) => void = () => {};

  /**
   * The 5-15 Hz band-passed detection-rate samples of the last frame (signal quality reads its
   * power): `band[j]` belongs to frame position `bandFirst + j * decimation`, for j < `bandLength`.
   */
  readonly band: Float64Array;
  bandFirst = 0;
  bandLength = 0;
  private readonly maxDelayDetection: number;
  // Band, slope and MWI come from the qrsFeatures kernel, in buffers of the arena (byte offsets
  // looked up once): the band-pass coefficients; the filter, derivative and MWI-sum state; the
  // MWI's ring of squares; and the MWI of each detection sample of the frame.
  private readonly arena: DspArena;
  private readonly frame: InputOffset;
  private readonly maxFrame: number;
  private readonly bandCoefAt: number;
  private readonly featureStateAt: number;
  private readonly mwiRingAt: number;
  private mwiPos = 0;
  private readonly mwi: Float64Array;
  private readonly mwiAt: number;
  private readonly slopeRingAt: number;
  private readonly bandAt: number;
  // Delay lines of the cleaned input (R location) and of the slope (T-wave test)
  private readonly clean: SampleRing;
  private readonly slopeRing: Float64Array; // detection rate
  private readonly ringMask: number;
  private inputIndex = 0; // absolute input-rate index of the next input sample
  private n = 0; // absolute detection-rate index of the next detection sample
  // Peak picking on the MWI
  private mwiMax = 0;
  private mwiMaxAt = 0;
  private held = 0; // height of the held candidate peak (0: none)
  private heldAt = 0;
  // Adaptive levels
  private readonly qrsPeaks = new RecentMean();
  private readonly noisePeaks = new RecentMean();
  private readonly rrs: RecentMean;
  private threshold = 0;
  private lastBeatMwiAt = Number.NEGATIVE_INFINITY;
  private lastQrsSlope = 0;
  // Search-back candidate: the largest sub-threshold peak since the last beat (+360 ms)
  private sbPeak = 0;
  private sbAt = 0;
  private sbBeatAfter = false;
  private sbSlope = 0;
  private mwiNow = 0;
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
  private readonly tWaveZone: number;
  private readonly deferMax: number;
  private readonly ms95: number;
  private readonly rLookback: number;
  private readonly relearnAfter: number;
  /** Signs of the largest deviation at recent R peaks, counted up and down within ±8. */
  private polarity = 0;
  // The last 2 s of the MWI, for the noise test (noisyBefore)
  private readonly mwiHistory: Float64Array;
  private readonly historyMask: number;
  private readonly activityLag: number;
  private readonly activitySpan: number;

  /** Bytes of arena a detector takes for frames of up to `maxFrame` samples at `sampleRateHz`. */
  static arenaBytes(sampleRateHz: number, maxFrame: number): number {
    const { bandLength, slopeLength, window150 } = detectorLayout(sampleRateHz, maxFrame);
    return DspArena.bytesFor(10, FEATURE_STATE, bandLength, bandLength, slopeLength, window150);
  }

  constructor(options: DetectorOptions) {
    const inputRate = options.sampleRateHz;
    const layout = detectorLayout(inputRate, options.maxFrame);
    this.sampleRateHz = inputRate;
    this.decimation = layout.decimation;
    const fs = inputRate / this.decimation;
    this.maxDelaySamples = Math.round((options.maxDelayS ?? 0.5) * inputRate);
    this.maxDelayDetection = Math.floor(this.maxDelaySamples / this.decimation);
    this.window150 = layout.window150;
    this.ms200 = Math.round(0.2 * fs);
    this.tWaveZone = Math.round(0.3 * fs);
    this.ms95 = Math.round(0.095 * fs);
    this.rLookback = Math.round(0.2 * fs);
    this.relearnAfter = Math.round(4 * fs);
    // A held peak may wait for a larger one as long as its R peak still makes the decision delay.
    this.deferMax = Math.max(0, this.maxDelayDetection - this.rLookback - this.ms200);
    const arena = options.arena;
    this.arena = arena;
    this.frame = new InputOffset(arena);
    this.maxFrame = options.maxFrame;
    const coef = arena.f64(10);
    coef.set(butterworthBandpass(2, 5, 15, fs).flat()); // order 2: always two sections
    this.bandCoefAt = arena.offsetOf(coef);
    this.featureStateAt = arena.offsetOf(arena.f64(FEATURE_STATE));
    this.band = arena.f64(layout.bandLength);
    this.mwi = arena.f64(layout.bandLength);
    this.slopeRing = arena.f64(layout.slopeLength);
    this.ringMask = layout.slopeLength - 1;
    this.mwiRingAt = arena.offsetOf(arena.f64(this.window150));
    this.bandAt = arena.offsetOf(this.band);
    this.mwiAt = arena.offsetOf(this.mwi);
    this.slopeRingAt = arena.offsetOf(this.slopeRing);
    this.clean = options.clean;
    this.mwiHistory = new Float64Array(ringSize(2 * fs));
    this.historyMask = this.mwiHistory.length - 1;
    this.activityLag = Math.round(0.25 * fs);
    this.activitySpan = Math.round(1.75 * fs);
    // 60 bpm until learnt: every stored RR is 1 s (a mean of 1 s over zeros would read 1 s too long
    // for the next eight beats and keep search-back from ever falling due).
    this.rrs = new RecentMean();
    this.rrs.fill(fs);
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

  /** Feeds the first `length` cleaned samples of `frame`. Indices continue across calls. */
  process(frame: Float64Array, length: number): void {
    if (length > this.maxFrame) throw new RangeError(`frame of ${length} exceeds the detector's buffers`);
    const mwis = this.mwi;
    const ms95 = this.ms95;
    const learnUntil = this.learnUntil;
    const dec = this.decimation;
    const first = this.inputIndex;
    this.inputIndex = first + length;
    // Detection samples: those whose absolute input index is a multiple of the decimation.
    const bandFirst = (dec - (first % dec)) % dec;
    const count = this.arena.kernels.qrsFeatures(
      this.frame.of(frame),
      bandFirst,
      length,
      dec,
      this.bandCoefAt,
      this.featureStateAt,
      this.bandAt,
      this.mwiRingAt,
      this.window150,
      this.mwiPos,
      this.slopeRingAt,
      this.ringMask,
      this.n,
      this.mwiAt,
    );
    this.bandFirst = bandFirst;
    this.bandLength = count;
    this.mwiPos = (this.mwiPos + count) % this.window150;
    // Peak picking keeps its state in locals; anything else happens in the rare slow calls, which
    // see the state written back first.
    let mwiMax = this.mwiMax;
    let mwiMaxAt = this.mwiMaxAt;
    let n = this.n;
    const hist = this.mwiHistory;
    const hmask = this.historyMask;
    for (let i = 0; i < count; i++, n++) {
      const mwi = mwis[i];
      hist[n & hmask] = mwi;
      if (n < learnUntil) this.learn(mwi, n);
      // A local maximum of the MWI, confirmed once the MWI falls to half of it or 95 ms pass.
      if (mwi > mwiMax) {
        mwiMax = mwi;
        mwiMaxAt = n;
      } else if (mwiMax > 0 && (mwi < mwiMax * 0.5 || n - mwiMaxAt > ms95)) {
        this.n = n + 1;
        this.onMwiPeak(mwiMax, mwiMaxAt);
        this.mwiMax = mwiMax = 0;
      }
      if (n >= this.nextEvent) {
        // Timed decisions read the MWI now and the peak still rising (not yet confirmed).
        this.n = n + 1;
        this.mwiNow = mwi;
        this.mwiMax = mwiMax;
        this.mwiMaxAt = mwiMaxAt;
        this.timedEvents(n);
      }
    }
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
      this.updateThreshold();
    }
  }

  /** Decisions that fall due with time: the held peak, re-learning, search-back. */
  private timedEvents(n: number): void {
    // A held peak is classified once 200 ms pass without a larger one, unless the MWI is already
    // climbing past half of it: then a P wave may be held with its QRS right behind it, so the
    // decision waits (within the delay budget) for that peak, which replaces it if larger.
    const rising = this.mwiNow > 0.5 * this.held && n - this.heldAt < this.ms200 + this.deferMax;
    if (this.held > 0 && n - this.heldAt >= this.ms200 && !rising) {
      const h = this.held;
      this.held = 0;
      // A peak twice this one's size, still rising, would replace it if the delay let it wait.
      if (n >= this.learnUntil && this.mwiMax > 2 * h) this.addNoise(h, this.heldAt);
      else if (n >= this.learnUntil) this.classify(h, this.heldAt, n);
      else if (h >= 0.5 * this.learnMax && this.heldAt - this.lastBeatMwiAt > this.tWaveZone) {
        // While learning, a peak of at least half the largest so far is a beat: the first seconds
        // of a stream count too.
        this.acceptBeat(h, this.heldAt, n, false);
      }
    }
    if (
      n >= this.learnUntil &&
      n - Math.max(this.lastBeatMwiAt, this.lastRelearn) > this.relearnAfter &&
      this.recentMax > 0
    ) {
      // At most halved per re-learning: a long sinus pause holds only P waves and noise.
      this.qrsPeaks.fill(Math.max(this.recentMax * 0.5, 0.5 * this.qrsPeaks.mean));
      this.noisePeaks.fill(Math.min(this.noisePeaks.mean, this.recentMax * 0.125));
      this.updateThreshold();
      this.recentMax = 0;
      this.lastRelearn = n;
    }
    // Search-back, at the latest when the candidate would exceed the allowed decision delay.
    if (this.sbPeak > 0 && n >= this.learnUntil) {
      const dueByRhythm = n - this.lastBeatMwiAt > 1.5 * this.rrs.mean;
      // The R peak lies at most rLookback before its MWI peak: decide before R + maxDelay.
      const dueByDelay = n - this.sbAt >= this.maxDelayDetection - this.rLookback;
      if (dueByRhythm || dueByDelay) {
        // A candidate must also be steep: P and T waves in a pause reach half the threshold too.
        // With a beat-sized peak rising behind it, it is that beat's P wave (or part of its QRS).
        if (
          !this.sbBeatAfter &&
          this.sbPeak > 0.5 * this.threshold &&
          this.held < this.threshold &&
          this.sbSlope >= 0.25 * this.lastQrsSlope &&
          this.mwiMax <= this.threshold &&
          !this.noisyBefore(this.sbAt)
        ) {
          const sinceLast = this.sbAt - this.lastBeatMwiAt;
          if (dueByRhythm || sinceLast > 0.6 * this.rrs.mean)
            this.acceptBeat(this.sbPeak, this.sbAt, n, true);
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
        this.lastBeatMwiAt + 1.5 * this.rrs.mean,
        this.sbAt + this.maxDelayDetection - this.rLookback,
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
      if (at - this.lastBeatMwiAt < this.tWaveZone) {
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
      // In noise a peak must clear the threshold by a margin (search-back is off there too),
      // unless it comes when the rhythm expects the next beat.
      const onRhythm = Math.abs(at - this.lastBeatMwiAt - this.rrs.mean) <= 0.15 * this.rrs.mean;
      if (height < 1.3 * this.threshold && !onRhythm && this.noisyBefore(at)) {
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
    this.noisePeaks.push(height);
    this.updateThreshold();
    if (at - this.lastBeatMwiAt > this.tWaveZone && height > this.sbPeak) {
      this.sbPeak = height;
      this.sbSlope = this.maxSlope(at);
      this.sbAt = at;
      this.sbBeatAfter = false;
    }
  }

  private acceptBeat(height: number, at: number, now: number, searchback: boolean): void {
    const rr = at - this.lastBeatMwiAt;
    if (Number.isFinite(rr) && rr < (3 * this.sampleRateHz) / this.decimation) {
      // Search-back beats are weighted as QRS but their RR is trusted like any other.
      this.rrs.push(rr);
    }
    const h = searchback ? Math.max(height, this.threshold) : height;
    this.qrsPeaks.push(h);
    this.updateThreshold();
    this.lastBeatMwiAt = at;
    this.lastQrsSlope = this.maxSlope(at);
    this.sbPeak = 0;
    this.recentMax = 0;
    const r = this.locateR(at);
    this.onBeat(r, now * this.decimation);
  }

  private updateThreshold(): void {
    const noise = this.noisePeaks.mean;
    this.threshold = noise + 0.28 * (this.qrsPeaks.mean - noise);
  }

  /**
   * Whether the MWI stood above 0.3 x the QRS level for at least 40 % of the 1.75 s that end 250 ms
   * before `at` (a clean beat and its T wave fill about a third of that; electrode motion far more).
   */
  private noisyBefore(at: number): boolean {
    const end = at - this.activityLag;
    const start = Math.max(end - this.activitySpan, this.n - this.historyMask, 0);
    if (end <= start) return false;
    const level = 0.3 * this.qrsPeaks.mean;
    const history = this.mwiHistory;
    let over = 0;
    for (let k = start; k < end; k++) if (history[k & this.historyMask] > level) over++;
    return over >= 0.4 * (end - start);
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

  /**
   * The R peak, at the input rate: the largest deviation of the cleaned signal in the QRS before the
   * MWI peak. Where R and S (or R and R') are of about equal size the largest one flips from beat to
   * beat, which adds tens of ms to RMSSD; so the extremum of the polarity recent beats had wins
   * unless the other is more than 1.25 x larger (a ventricular beat of opposite polarity).
   */
  private locateR(at: number): number {
    const dec = this.decimation;
    const to = at * dec;
    const from = Math.max(to - this.rLookback * dec, this.clean.oldest);
    const largest = this.clean.argMaxAbs(from, to);
    const x = this.clean.valueAt(largest);
    const usual = this.polarity > 2 ? 1 : this.polarity < -2 ? -1 : 0;
    this.polarity = Math.max(-8, Math.min(8, this.polarity + (x > 0 ? 1 : -1)));
    if (usual === 0 || usual * x > 0) return largest;
    const r = this.clean.argMax(from, to, usual);
    return usual * this.clean.valueAt(r) >= 0.8 * Math.abs(x) ? r : largest;
  }
}

/** A detector's decimation and buffer lengths: band and MWI per frame, slope ring, MWI window. */
function detectorLayout(inputRateHz: number, maxFrame: number) {
  const decimation = Math.max(1, Math.floor(inputRateHz / MIN_DETECTION_RATE_HZ));
  const fs = inputRateHz / decimation;
  return {
    decimation,
    bandLength: Math.ceil(maxFrame / decimation),
    slopeLength: ringSize(fs),
    window150: Math.round(0.15 * fs),
  };
}

/** A power of two holding at least one second at `rateHz`. */
function ringSize(rateHz: number): number {
  let size = 1;
  while (size < Math.round(rateHz)) size <<= 1;
  return size;
}
