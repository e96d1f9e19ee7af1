import { BeatRing } from './beats.js';
import { butterworthHighpass, butterworthLowpass, notch, type Section } from './filter-design.js';
import { SampleFlag } from './flags.js';
import type { QualityThresholds } from './quality.js';
import { Resampler } from './resampler.js';
import { SampleRing } from './ring-buffer.js';
import { RPeakDetector } from './rpeak-detector.js';
import { SosCascade } from './sos-cascade.js';
import { DspArena } from './wasm/arena.js';
import { DEFAULT_WINDOW_SPEC, type WindowSpec } from './window-spec.js';
import { type EcgWindow, type RatedFrame, Windower } from './windower.js';

export interface CleaningOptions {
  highpassHz: number;
  /** Mains frequency to notch out, or null for none. */
  notchHz: 50 | 60 | null;
  notchQ: number;
  lowpassHz: number;
}

export const DEFAULT_CLEANING: CleaningOptions = { highpassHz: 0.5, notchHz: 50, notchQ: 30, lowpassHz: 40 };

/** The cleaning cascade: Butterworth high-pass (order 2), notch, Butterworth low-pass (order 4). */
export function cleaningSections(c: CleaningOptions, fsHz: number): Section[] {
  return [
    ...butterworthHighpass(2, c.highpassHz, fsHz),
    ...(c.notchHz === null ? [] : notch(c.notchHz, c.notchQ, fsHz)),
    ...butterworthLowpass(4, c.lowpassHz, fsHz),
  ];
}

export interface ChainOptions {
  inputRateHz: number;
  spec?: WindowSpec;
  cleaning?: CleaningOptions;
  /** Largest frame passed to `push`; larger frames are split. */
  maxFrame?: number;
  thresholds?: QualityThresholds;
  maxDecisionDelayS?: number;
}

/**
 * The streaming signal path from raw samples to rated model windows:
 * resample → clean (HP, notch, LP) → R-peaks → per-block quality → windows.
 * All buffers are sized here; `push` allocates nothing.
 */
export class EcgChain {
  readonly spec: WindowSpec;
  readonly resampler: Resampler;
  readonly detector: RPeakDetector;
  readonly windower: Windower;
  readonly beats = new BeatRing();
  /** Seconds by which the model-rate stream lags the input (resampler group delay). */
  readonly delaySeconds: number;
  onWindow: (w: EcgWindow) => void = () => {};
  /** A beat: its index at the model rate, instantaneous heart rate (NaN for the first) and when it was decided. */
  onBeat: (index: number, bpm: number, decidedAt: number) => void = () => {};
  /** The cleaned model-rate samples of each frame (mV), for a tap such as the event log. */
  onClean: ((clean: Float64Array, length: number) => void) | null = null;
  private readonly cascade: SosCascade;
  private readonly maxFrame: number;
  private readonly clean: Float64Array;
  /** The cleaned stream: windows are cut from it and R peaks located in it. */
  private readonly cleanRing: SampleRing;
  /** Each frame as the windower takes it (one object, reused). */
  private readonly frame: RatedFrame;
  private primed = false;
  private gapPending = false;
  private lastBeat = Number.NaN;

  constructor(options: ChainOptions) {
    this.spec = options.spec ?? DEFAULT_WINDOW_SPEC;
    const fs = this.spec.sampleRateHz;
    this.maxFrame = options.maxFrame ?? 1024;
    // One arena for the buffers the kernels share: resampled (raw) → cleaned → QRS features, window sums.
    const sections = cleaningSections(options.cleaning ?? DEFAULT_CLEANING, fs);
    const resampling = { maxFrame: this.maxFrame };
    const outMax = Resampler.outputLength(options.inputRateHz, fs, this.maxFrame);
    const cleanRingLength = Math.max(this.spec.windowSamples, fs) + outMax;
    const arena = new DspArena(
      Resampler.arenaBytes(options.inputRateHz, fs, resampling) +
        SosCascade.arenaBytes(sections.length) +
        RPeakDetector.arenaBytes(fs, outMax) +
        DspArena.bytesFor(outMax, cleanRingLength) +
        Windower.arenaBytes(this.spec),
    );
    this.resampler = new Resampler(options.inputRateHz, fs, { ...resampling, arena });
    this.clean = arena.f64(outMax);
    this.cascade = new SosCascade(sections, arena);
    this.cleanRing = new SampleRing(cleanRingLength, arena);
    this.detector = new RPeakDetector({
      sampleRateHz: fs,
      maxFrame: outMax,
      arena,
      maxDelayS: options.maxDecisionDelayS ?? 0.5,
      clean: this.cleanRing,
    });
    this.windower = new Windower(this.spec, this.beats, {
      ring: this.cleanRing,
      arena,
      decisionDelaySamples: this.detector.maxDelaySamples,
      thresholds: options.thresholds,
    });
    this.delaySeconds = this.resampler.delaySeconds;
    this.detector.onBeat = (index, decidedAt) => {
      this.beats.push(index);
      const bpm = Number.isNaN(this.lastBeat) ? Number.NaN : (60 * fs) / (index - this.lastBeat);
      this.lastBeat = index;
      this.onBeat(index, bpm, decidedAt);
    };
    this.windower.onWindow = (w) => this.onWindow(w);
    this.frame = {
      raw: this.resampler.out,
      clean: this.clean,
      length: 0,
      qrs: this.detector,
      flags: null,
      ingressNs: 0n,
    };
  }

  /** Samples were lost before the next pushed sample: windows spanning it are never usable. */
  markGap(): void {
    this.gapPending = true;
  }

  push(x: Float64Array, length: number, flags: Uint8Array | null = null, ingressNs = 0n): void {
    for (let off = 0; off < length; off += this.maxFrame) {
      this.pushFrame(x, off, Math.min(this.maxFrame, length - off), flags ?? undefined, ingressNs);
    }
  }

  private pushFrame(
    x: Float64Array,
    offset: number,
    length: number,
    flags: Uint8Array | undefined,
    ingressNs: bigint,
  ): void {
    const rs = this.resampler;
    const m = rs.process(x, offset, length, flags);
    if (m === 0) return;
    const raw = rs.out;
    const clean = this.clean;
    let flagged = rs.outFlagged;
    if (this.gapPending) {
      rs.flagFirstOutput(SampleFlag.Gap);
      flagged = true;
      this.gapPending = false;
      this.detector.restartTiming();
      this.windower.markGap();
      this.lastBeat = Number.NaN;
    }
    if (!this.primed) {
      this.cascade.primeWith(raw[0]);
      this.primed = true;
    }
    this.cascade.process(raw, 0, m, clean, this.cleanRing);
    this.onClean?.(clean, m);
    this.detector.process(clean, m);
    const frame = this.frame;
    frame.length = m;
    frame.flags = flagged ? rs.outFlags : null;
    frame.ingressNs = ingressNs;
    this.windower.process(frame);
  }
}
