import { type BeatRing, emptyHeartRate, type HeartRateStats, heartRateIn } from './beats.js';
import { butterworthLowpass } from './filter-design.js';
import { SampleFlag } from './flags.js';
import {
  classify,
  DEFAULT_THRESHOLDS,
  type QualityClass,
  type QualityInputs,
  type QualityThresholds,
  rateWindow,
} from './quality.js';
import type { SampleRing } from './ring-buffer.js';
import type { DspArena } from './wasm/arena.js';
import type { WindowSpec } from './window-spec.js';

/** A model window with its quality and heart rate. One object is reused: copy what you keep. */
export interface EcgWindow {
  /** Absolute sample indices at the model rate, [start, end). */
  startIndex: number;
  endIndex: number;
  sampleRateHz: number;
  /**
   * The window's samples, normalised as the spec asks, in a new array. Only valid during the
   * `onWindow` call: a window is materialised only when a consumer (the model) wants it, since
   * copying 2500 samples every hop would cost more than rating them.
   */
  copySamples(): Float32Array;
  quality: QualityClass;
  reasons: number;
  sqi: QualityInputs;
  heartRate: HeartRateStats;
  /** Ingress time (process.hrtime.bigint) of the frame that completed the window. */
  ingressNs: bigint;
}

// Per-block accumulators, one row of FIELDS per block.
const N = 0; // samples
const C1 = 1; // Σ clean, Σ clean², Σ clean³, Σ clean⁴
const C2 = 2;
const C3 = 3;
const C4 = 4;
const R1 = 5; // Σ raw, Σ raw²
const R2 = 6;
const B1 = 7; // Σ baseline, Σ baseline², count (baseline runs at a quarter rate)
const B2 = 8;
const BN = 9;
const Q2 = 10; // Σ band², count (QRS band, at the detector's rate)
const QN = 17;
const FLAT = 11;
const SAT = 12;
const LEAD = 13;
const GAP = 14;
const CMIN = 15;
const CMAX = 16;
const FIELDS = 18;

/** The QRS-band samples of a frame at the detector's rate: band[j] is frame position first + j * step. */
export interface QrsBand {
  readonly band: Float64Array;
  readonly bandFirst: number;
  readonly bandLength: number;
  readonly decimation: number;
}

/** A raw run this long with no change at all is a flatline (a pinned or disconnected input). */
const FLAT_RUN_S = 0.1;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Turns the cleaned stream (with raw values, QRS-band values and flags beside it) into overlapping
 * windows with a quality rating. Statistics are kept per block (gcd of window and hop), so a window
 * is rated by summing its blocks: constant work per hop, nothing allocated per frame.
 */
export class Windower {
  /** Samples of arena a windower takes. */
  static readonly arenaLength = 2 + 9;
  readonly spec: WindowSpec;
  onWindow: (w: EcgWindow) => void = () => {};
  private readonly thresholds: QualityThresholds;
  private readonly ring: SampleRing;
  private readonly blockSize: number;
  private readonly blocksPerWindow: number;
  private readonly hopBlocks: number;
  private readonly stats: Float64Array;
  private block = 0; // absolute index of the block being filled
  private inBlock = 0;
  private index = 0; // absolute index of the next sample
  private readonly flatRunMin: number;
  // Baseline (< 1 Hz) low-pass on the raw signal, run at a quarter rate
  private readonly baseCoef: Float64Array;
  private baseS1 = 0;
  private baseS2 = 0;
  private basePrimed = false;
  private readonly window: EcgWindow;
  private readonly arena: DspArena;
  private readonly raw: Float64Array;
  private readonly frameLength: number;
  // The stretchStats kernel's buffers: the last raw value and its repeats (flatline runs), and a
  // stretch's Σc, Σc², Σc³, Σc⁴, min c, max c, Σr, Σr² and flat samples. Byte offsets looked up once.
  private readonly flatState: Float64Array;
  private readonly stretch: Float64Array;
  private readonly cleanAt: number;
  private readonly rawAt: number;
  private readonly flatStateAt: number;
  private readonly stretchAt: number;
  /** Normalisation of the window last emitted: (x - shift) * scale. */
  private shift = 0;
  private scale = 1;
  private readonly beats: BeatRing;
  private readonly decisionDelaySamples: number;

  constructor(
    spec: WindowSpec,
    beats: BeatRing,
    options: {
      /** The cleaned stream, filled by the caller up to the end of each frame; holds a window or more. */
      ring: SampleRing;
      /**
       * Each frame's samples before (raw, resampled) and after cleaning: buffers of `arena`,
       * which lends `arenaLength` more.
       */
      raw: Float64Array;
      clean: Float64Array;
      arena: DspArena;
      decisionDelaySamples: number;
      thresholds?: QualityThresholds;
    },
  ) {
    if (spec.hopSamples > spec.windowSamples) throw new RangeError('hop must not exceed the window');
    this.spec = spec;
    this.beats = beats;
    this.decisionDelaySamples = options.decisionDelaySamples;
    this.thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
    this.blockSize = gcd(spec.windowSamples, spec.hopSamples);
    this.blocksPerWindow = spec.windowSamples / this.blockSize;
    this.hopBlocks = spec.hopSamples / this.blockSize;
    this.stats = new Float64Array(this.blocksPerWindow * FIELDS);
    if (options.ring.capacity < spec.windowSamples) throw new RangeError('the ring must hold a window');
    this.ring = options.ring;
    this.arena = options.arena;
    this.raw = options.raw;
    this.frameLength = Math.min(options.raw.length, options.clean.length);
    this.flatState = options.arena.f64(2);
    this.flatState[0] = Number.NaN;
    this.stretch = options.arena.f64(9);
    this.cleanAt = options.arena.offsetOf(options.clean);
    this.rawAt = options.arena.offsetOf(options.raw);
    this.flatStateAt = options.arena.offsetOf(this.flatState);
    this.stretchAt = options.arena.offsetOf(this.stretch);
    this.flatRunMin = Math.round(FLAT_RUN_S * spec.sampleRateHz);
    this.baseCoef = new Float64Array(butterworthLowpass(2, 1, spec.sampleRateHz / 4)[0]);
    this.resetBlock(0);
    this.window = {
      startIndex: 0,
      endIndex: 0,
      sampleRateHz: spec.sampleRateHz,
      copySamples: () => this.copyWindow(),
      quality: 'unusable',
      reasons: 0,
      sqi: {
        gap: false,
        leadOffFraction: 0,
        saturatedFraction: 0,
        flatFraction: 0,
        swingMv: 0,
        beats: 0,
        meanHrBpm: 0,
        longestPauseS: 0,
        rrRatio: 1,
        kurtosis: 0,
        pSqi: 0,
        basSqi: 0,
      },
      heartRate: emptyHeartRate(),
      ingressNs: 0n,
    };
  }

  private resetBlock(block: number): void {
    const o = (block % this.blocksPerWindow) * FIELDS;
    this.stats.fill(0, o, o + FIELDS);
    this.stats[o + CMIN] = Number.POSITIVE_INFINITY;
    this.stats[o + CMAX] = Number.NEGATIVE_INFINITY;
  }

  /** Adds the first `length` samples of the raw and clean buffers, with the QRS band and flags. */
  process(
    qrs: QrsBand,
    /** The samples' flags, or null when none is set. */
    flags: Uint8Array | null,
    length: number,
    ingressNs: bigint,
  ): void {
    const bc = this.baseCoef;
    const b0 = bc[0];
    const b1 = bc[1];
    const b2 = bc[2];
    const a1 = bc[3];
    const a2 = bc[4];
    if (length > this.frameLength) throw new RangeError(`frame of ${length} exceeds the windower's buffers`);
    const raw = this.raw;
    const kernels = this.arena.kernels;
    const sums = this.stretch;
    const flatRunMin = this.flatRunMin;
    const band = qrs.band;
    const bandFirst = qrs.bandFirst;
    const bandStep = qrs.decimation;
    const bandEnd = bandFirst + qrs.bandLength * bandStep;
    if (!this.basePrimed && length > 0) {
      const r0 = raw[0];
      this.baseS1 = r0 - b0 * r0; // steady state for a constant input (unit DC gain)
      this.baseS2 = b2 * r0 - a2 * r0;
      this.basePrimed = true;
    }
    let baseS1 = this.baseS1;
    let baseS2 = this.baseS2;
    let index = this.index;
    let i = 0;
    // One pass per stretch of the frame inside one block: sums in locals, the block row written once.
    while (i < length) {
      const end = Math.min(length, i + this.blockSize - this.inBlock);
      let q2 = 0,
        qn = 0,
        bs1 = 0,
        bs2 = 0,
        bn = 0;
      let sat = 0,
        lead = 0,
        gap = 0;
      // The sums of the clean and raw samples and the flatline count (an exactly constant raw input:
      // a real ECG front end always shows some noise) come from a SIMD kernel; the short loops
      // below each keep their few sums in registers.
      kernels.stretchStats(
        this.cleanAt + 8 * i,
        this.rawAt + 8 * i,
        end - i,
        this.flatStateAt,
        flatRunMin,
        this.stretchAt,
      );
      let p = i <= bandFirst ? bandFirst : bandFirst + Math.ceil((i - bandFirst) / bandStep) * bandStep;
      for (let j = (p - bandFirst) / bandStep; p < end && p < bandEnd; p += bandStep, j++) {
        const q = band[j];
        q2 += q * q;
        qn++;
      }
      if (flags !== null) {
        for (let k = i; k < end; k++) {
          const f = flags[k];
          if (f & SampleFlag.Saturated) sat++;
          if (f & SampleFlag.LeadOff) lead++;
          if (f & SampleFlag.Gap) gap++;
        }
      }
      // The baseline filter runs on every fourth absolute index.
      for (let k = i + ((4 - (index & 3)) & 3); k < end; k += 4) {
        const r = raw[k];
        const y = b0 * r + baseS1;
        baseS1 = b1 * r - a1 * y + baseS2;
        baseS2 = b2 * r - a2 * y;
        bs1 += y;
        bs2 += y * y;
        bn++;
      }
      index += end - i;
      const st = this.stats;
      const o = (this.block % this.blocksPerWindow) * FIELDS;
      st[o + N] += end - i;
      st[o + C1] += sums[0];
      st[o + C2] += sums[1];
      st[o + C3] += sums[2];
      st[o + C4] += sums[3];
      st[o + R1] += sums[6];
      st[o + R2] += sums[7];
      st[o + Q2] += q2;
      st[o + QN] += qn;
      st[o + B1] += bs1;
      st[o + B2] += bs2;
      st[o + BN] += bn;
      st[o + FLAT] += sums[8];
      st[o + SAT] += sat;
      st[o + LEAD] += lead;
      st[o + GAP] += gap;
      if (sums[4] < st[o + CMIN]) st[o + CMIN] = sums[4];
      if (sums[5] > st[o + CMAX]) st[o + CMAX] = sums[5];
      this.inBlock += end - i;
      i = end;
      if (this.inBlock === this.blockSize) {
        this.index = index;
        this.inBlock = 0;
        this.block++;
        const done = this.block - this.blocksPerWindow;
        if (done >= 0 && done % this.hopBlocks === 0) this.emit(ingressNs);
        this.resetBlock(this.block);
      }
    }
    this.index = index;
    this.baseS1 = baseS1;
    this.baseS2 = baseS2;
  }

  /** Samples were lost: a flat run does not continue across the gap (the gap flag rides on the samples). */
  markGap(): void {
    this.flatState[0] = Number.NaN; // the last raw value
    this.flatState[1] = 0; // its repeats
  }

  private emit(ingressNs: bigint): void {
    const w = this.window;
    const st = this.stats;
    const end = this.index;
    const start = end - this.spec.windowSamples;
    let n = 0,
      c1 = 0,
      c2 = 0,
      c3 = 0,
      c4 = 0,
      r1 = 0,
      r2 = 0,
      b1 = 0,
      b2 = 0,
      bn = 0,
      q2 = 0,
      qn = 0;
    let flat = 0,
      sat = 0,
      lead = 0,
      gap = 0;
    let cmin = Number.POSITIVE_INFINITY;
    let cmax = Number.NEGATIVE_INFINITY;
    for (let b = 0; b < this.blocksPerWindow; b++) {
      const o = b * FIELDS;
      n += st[o + N];
      c1 += st[o + C1];
      c2 += st[o + C2];
      c3 += st[o + C3];
      c4 += st[o + C4];
      r1 += st[o + R1];
      r2 += st[o + R2];
      b1 += st[o + B1];
      b2 += st[o + B2];
      bn += st[o + BN];
      q2 += st[o + Q2];
      qn += st[o + QN];
      flat += st[o + FLAT];
      sat += st[o + SAT];
      lead += st[o + LEAD];
      gap += st[o + GAP];
      if (st[o + CMIN] < cmin) cmin = st[o + CMIN];
      if (st[o + CMAX] > cmax) cmax = st[o + CMAX];
    }
    const mean = c1 / n;
    const m2 = c2 / n - mean * mean;
    const m4 = c4 / n - 4 * mean * (c3 / n) + 6 * mean * mean * (c2 / n) - 3 * mean ** 4;
    const rawVar = r2 / n - (r1 / n) ** 2;
    const baseVar = bn > 0 ? b2 / bn - (b1 / bn) ** 2 : 0;
    const sqi = w.sqi;
    sqi.gap = gap > 0;
    sqi.leadOffFraction = lead / n;
    sqi.saturatedFraction = sat / n;
    sqi.flatFraction = Math.min(1, flat / n);
    sqi.swingMv = cmax - cmin;
    sqi.kurtosis = m2 > 1e-12 ? m4 / (m2 * m2) : 0;
    sqi.pSqi = qn > 0 && m2 > 0 ? q2 / qn / m2 : 0;
    sqi.basSqi = rawVar > 1e-12 ? Math.max(0, 1 - baseVar / rawVar) : 0;
    const hr = w.heartRate;
    heartRateIn(this.beats, start, end, end - this.decisionDelaySamples, this.spec.sampleRateHz, hr);
    sqi.beats = hr.beats;
    sqi.meanHrBpm = hr.meanBpm;
    sqi.longestPauseS = hr.longestPauseS;
    sqi.rrRatio = hr.rrRatio;
    w.reasons = rateWindow(sqi, this.thresholds);
    w.quality = classify(w.reasons, sqi, this.thresholds);
    w.startIndex = start;
    w.endIndex = end;
    w.ingressNs = ingressNs;
    if (this.spec.normalization === 'zscore') {
      const sd = Math.sqrt(Math.max(m2, 0));
      this.shift = mean;
      this.scale = sd > 1e-9 ? 1 / sd : 0;
    }
    this.onWindow(w);
  }

  private copyWindow(): Float32Array {
    const out = new Float32Array(this.spec.windowSamples);
    this.ring.copyOut(this.window.startIndex, out.length, out, this.shift, this.scale);
    return out;
  }
}
