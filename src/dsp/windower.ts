import { type BeatRing, emptyHeartRate, type HeartRateStats, heartRateIn, RrScratch } from './beats.js';
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
import type { QrsBand } from './rpeak-detector.js';
import { DspArena, InputOffset } from './wasm/arena.js';
import type { WindowSpec } from './window-spec.js';
import { gcd } from './resampler.js';

/** A model window with its quality and heart rate. One object is reused: copy what you keep. */
export interface EcgWindow {
  /** Absolute sample indices at the model rate, [start, end). */
  startIndex: number;
  endIndex: number;
  /**
   * The heart rate covers beats in [startIndex, beatsUntilIndex): a beat in the window's last
   * decision delay may not be decided yet when the window is cut, so that stretch is left out for
   * every window alike.
   */
  beatsUntilIndex: number;
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

// Per-block accumulators, one row of FIELDS per block; the blockStats kernel (dsp.wat) adds to all
// but SAT, LEAD and GAP at these same offsets.
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

/** What the windower takes per frame: buffers of its arena, valid during the call. */
export interface RatedFrame {
  /** The resampled samples before cleaning. */
  raw: Float64Array;
  /** The same samples cleaned; the caller has appended them to the windower's ring already. */
  clean: Float64Array;
  length: number;
  qrs: QrsBand;
  /** The samples' flags, or null when none is set. */
  flags: Uint8Array | null;
  /** Ingress time (process.hrtime.bigint) of the frame. */
  ingressNs: bigint;
}

/** A raw run this long with no change at all is a flatline (a pinned or disconnected input). */
const FLAT_RUN_S = 0.1;

/** Windows are rated from blocks of this many samples: every window and hop is whole blocks. */
function blockSizeOf(spec: WindowSpec): number {
  return gcd(spec.windowSamples, spec.hopSamples);
}

/** The blockStats kernel's state: last raw value, its repeats, the baseline filter's state. */
const KERNEL_STATE = 4;

/**
 * Turns the cleaned stream (with raw values, QRS-band values and flags beside it) into overlapping
 * windows with a quality rating. Statistics are kept per block (gcd of window and hop), so a window
 * is rated by summing its blocks: constant work per hop, nothing allocated per frame.
 */
export class Windower {
  /** Bytes of arena a windower with this spec takes. */
  static arenaBytes(spec: WindowSpec): number {
    return DspArena.bytesFor(KERNEL_STATE, 5, (spec.windowSamples / blockSizeOf(spec)) * FIELDS);
  }
  readonly spec: WindowSpec;
  onWindow: (w: EcgWindow) => void = () => {};
  private readonly thresholds: QualityThresholds;
  private readonly ring: SampleRing;
  private readonly blockSize: number;
  private readonly blocksPerWindow: number;
  private readonly hopBlocks: number;
  /** One row of FIELDS per block of the window, in the arena: the blockStats kernel adds to them. */
  private readonly stats: Float64Array;
  private readonly statsAt: number;
  private block = 0; // absolute index of the block being filled
  private inBlock = 0;
  private index = 0; // absolute index of the next sample
  private readonly flatRunMin: number;
  // Baseline (< 1 Hz) low-pass on the raw signal, run at a quarter rate by the kernel
  private readonly baseCoef: Float64Array;
  private readonly baseCoefAt: number;
  private basePrimed = false;
  private readonly window: EcgWindow;
  private readonly arena: DspArena;
  /**
   * The blockStats kernel's state: the last raw value and its repeats (flatline runs), the
   * baseline filter's two state values. Byte offsets of the kernel's buffers looked up once.
   */
  private readonly kernelState: Float64Array;
  private readonly kernelStateAt: number;
  private readonly clean: InputOffset;
  private readonly raw: InputOffset;
  private readonly band: InputOffset;
  /** Normalisation of the window last emitted: (x - shift) * scale. */
  private shift = 0;
  private scale = 1;
  private readonly beats: BeatRing;
  private readonly rrScratch = new RrScratch();
  private readonly decisionDelaySamples: number;

  constructor(
    spec: WindowSpec,
    beats: BeatRing,
    options: {
      /** The cleaned stream, filled by the caller up to the end of each frame; holds a window or more. */
      ring: SampleRing;
      /** Lends the windower `Windower.arenaBytes`; each frame's buffers are buffers of it. */
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
    this.blockSize = blockSizeOf(spec);
    this.blocksPerWindow = spec.windowSamples / this.blockSize;
    this.hopBlocks = spec.hopSamples / this.blockSize;
    if (options.ring.capacity < spec.windowSamples) throw new RangeError('the ring must hold a window');
    this.ring = options.ring;
    const arena = options.arena;
    this.arena = arena;
    this.kernelState = arena.f64(KERNEL_STATE);
    this.kernelState[0] = Number.NaN; // no last raw value yet
    this.baseCoef = arena.f64(5);
    this.baseCoef.set(butterworthLowpass(2, 1, spec.sampleRateHz / 4)[0]);
    this.stats = arena.f64(this.blocksPerWindow * FIELDS);
    this.kernelStateAt = arena.offsetOf(this.kernelState);
    this.baseCoefAt = arena.offsetOf(this.baseCoef);
    this.statsAt = arena.offsetOf(this.stats);
    this.clean = new InputOffset(arena);
    this.raw = new InputOffset(arena);
    this.band = new InputOffset(arena);
    this.flatRunMin = Math.round(FLAT_RUN_S * spec.sampleRateHz);
    this.resetBlock(0);
    this.window = {
      startIndex: 0,
      endIndex: 0,
      beatsUntilIndex: 0,
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

  /** Adds a frame's samples, emitting each window it completes. */
  process(frame: RatedFrame): void {
    const { length, qrs, flags, ingressNs } = frame;
    if (length > Math.min(frame.raw.length, frame.clean.length))
      throw new RangeError(`frame of ${length} exceeds its buffers`);
    const kernels = this.arena.kernels;
    const cleanAt = this.clean.of(frame.clean);
    const rawAt = this.raw.of(frame.raw);
    const bandAt = this.band.of(qrs.band);
    const bandFirst = qrs.bandFirst;
    const bandStep = qrs.decimation;
    const bandEnd = bandFirst + qrs.bandLength * bandStep;
    if (!this.basePrimed && length > 0) this.primeBaseline(frame.raw[0]);
    let i = 0;
    // One kernel call per stretch of the frame inside one block: it adds the stretch to the block's row.
    while (i < length) {
      const end = Math.min(length, i + this.blockSize - this.inBlock);
      // The QRS band's samples in the stretch (every bandStep-th frame position from bandFirst).
      const p = i <= bandFirst ? bandFirst : bandFirst + Math.ceil((i - bandFirst) / bandStep) * bandStep;
      const bandCount = Math.max(0, Math.ceil((Math.min(end, bandEnd) - p) / bandStep));
      const row = (this.block % this.blocksPerWindow) * FIELDS;
      kernels.blockStats(
        cleanAt + 8 * i,
        rawAt + 8 * i,
        end - i,
        bandAt + 8 * ((p - bandFirst) / bandStep),
        bandCount,
        (4 - (this.index & 3)) & 3, // the baseline filter runs on every fourth absolute index
        this.baseCoefAt,
        this.kernelStateAt,
        this.flatRunMin,
        this.statsAt + 8 * row,
      );
      if (flags !== null) this.countFlags(flags, i, end, row);
      this.index += end - i;
      this.inBlock += end - i;
      i = end;
      if (this.inBlock === this.blockSize) {
        this.inBlock = 0;
        this.block++;
        const done = this.block - this.blocksPerWindow;
        if (done >= 0 && done % this.hopBlocks === 0) this.emit(ingressNs);
        this.resetBlock(this.block);
      }
    }
  }

  /** Flags of samples [from, to) of the frame into the block row at `row`. */
  private countFlags(flags: Uint8Array, from: number, to: number, row: number): void {
    let sat = 0,
      lead = 0,
      gap = 0;
    for (let k = from; k < to; k++) {
      const f = flags[k];
      if (f & SampleFlag.Saturated) sat++;
      if (f & SampleFlag.LeadOff) lead++;
      if (f & SampleFlag.Gap) gap++;
    }
    const st = this.stats;
    st[row + SAT] += sat;
    st[row + LEAD] += lead;
    st[row + GAP] += gap;
  }

  /** The baseline filter's steady state for a constant input r0 (unit DC gain). */
  private primeBaseline(r0: number): void {
    const [b0, , b2, , a2] = this.baseCoef;
    this.kernelState[2] = r0 - b0 * r0;
    this.kernelState[3] = b2 * r0 - a2 * r0;
    this.basePrimed = true;
  }

  /** Samples were lost: a flat run does not continue across the gap (the gap flag rides on the samples). */
  markGap(): void {
    this.kernelState[0] = Number.NaN; // the last raw value
    this.kernelState[1] = 0; // its repeats
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
    const until = end - this.decisionDelaySamples;
    heartRateIn(this.beats, start, until, until, this.spec.sampleRateHz, hr, this.rrScratch);
    sqi.beats = hr.beats;
    sqi.meanHrBpm = hr.meanBpm;
    sqi.longestPauseS = hr.longestPauseS;
    sqi.rrRatio = hr.rrRatio;
    w.reasons = rateWindow(sqi, this.thresholds);
    w.quality = classify(w.reasons, sqi, this.thresholds);
    w.startIndex = start;
    w.endIndex = end;
    w.beatsUntilIndex = until;
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
