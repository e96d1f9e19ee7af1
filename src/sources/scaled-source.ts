import { SampleFlag } from '../dsp/flags.js';
import { BITALINO_ECG } from '../protocols/bitalino.js';
import { FrameFlag, type SampleFrame } from '../protocols/types.js';
import type { EcgFrame, EcgSource, SourceState, SourceStats, WireSource } from './source.js';

/** ADC → mV for wires that do not say: the configured values, or BITalino's sensor. */
export interface WireScale {
  sampleRateHz: number;
  gain: number;
  baseline: number;
  /** BITalino's ECG sensor has its own rate and transfer function. */
  bitalino?: boolean;
}

/** ECG sensors sample at tens of Hz to a few kHz; anything else is a corrupt or hostile frame. */
export const PLAUSIBLE_RATE_HZ = { min: 50, max: 10_000 } as const;
/** A new rate must hold for this many frames before the stream restarts at it (a flapping rate is noise). */
const RATE_CONFIRM_FRAMES = 3;

/**
 * A wire source as the daemon reads it: each frame scaled to mV with the frame's own gain and
 * baseline where the wire carries them (ecg-serial, CAN status), else the configured ones, and its
 * frame flags spread to every sample. Frames with an implausible rate, gain or baseline are counted
 * and dropped, and so are frames at a new rate until it has held for a few frames.
 */
export class ScaledSource implements EcgSource {
  onFrame: (frame: EcgFrame, arrivalNs: bigint) => void = () => {};
  /** Called once per kind of dropped frame (the first of each), for the log; all are counted. */
  onDropped: (kind: DropKind, detail: string) => void = () => {};
  private readonly droppedKinds = new Set<DropKind>();
  readonly name: string;
  private readonly frame: EcgFrame = {
    mv: new Float64Array(256),
    flags: new Uint8Array(256),
    length: 0,
    sampleRateHz: 0,
  };
  private rejected = 0;
  private candidateRate = 0;
  private candidateFrames = 0;

  constructor(
    private readonly wire: WireSource,
    private readonly scale: WireScale,
    name: string,
  ) {
    this.name = name;
    wire.onFrame = (f, arrivalNs) => this.scaled(f, arrivalNs);
  }

  set onGap(f: (lost: number | null) => void) {
    this.wire.onGap = f;
  }
  get onGap(): (lost: number | null) => void {
    return this.wire.onGap;
  }
  set onState(f: (state: SourceState, detail: string) => void) {
    this.wire.onState = f;
  }
  get onState(): (state: SourceState, detail: string) => void {
    return this.wire.onState;
  }
  get state(): SourceState {
    return this.wire.state;
  }
  get stats(): SourceStats {
    return { ...this.wire.stats, implausible: this.rejected };
  }

  start(): void {
    this.wire.start();
  }

  stop(): Promise<void> {
    return this.wire.stop();
  }

  private scaled(f: SampleFrame, arrivalNs: bigint): void {
    const s = this.scale;
    const rate = f.sampleRateHz ?? (s.bitalino ? BITALINO_ECG.rateHz : s.sampleRateHz);
    const own = f.gain !== undefined && f.baseline !== undefined;
    const gain = own ? f.gain! : s.bitalino ? BITALINO_ECG.gain : s.gain;
    const baseline = own ? f.baseline! : s.bitalino ? BITALINO_ECG.baseline : s.baseline;
    const bad = implausible(rate, gain, baseline) ?? (this.rateHolds(rate) ? null : 'flapping rate');
    if (bad) {
      this.rejected++;
      if (!this.droppedKinds.has(bad)) {
        this.droppedKinds.add(bad);
        this.onDropped(bad, `rate ${rate} Hz, gain ${gain}, baseline ${baseline}`);
      }
      return;
    }
    const n = f.samples.length;
    if (this.frame.mv.length < n) {
      // Grows to the largest frame once; no allocation per frame after that.
      this.frame.mv = new Float64Array(n);
      this.frame.flags = new Uint8Array(n);
    }
    const flag =
      (f.flags & FrameFlag.LeadOff ? SampleFlag.LeadOff : 0) |
      (f.flags & FrameFlag.Saturated ? SampleFlag.Saturated : 0);
    const frame = this.frame;
    const mv = frame.mv;
    for (let k = 0; k < n; k++) mv[k] = (f.samples[k] - baseline) / gain;
    frame.flags.fill(flag, 0, n);
    frame.length = n;
    this.onFrame(frame, arrivalNs);
  }

  /** The first rate is taken at once; a different one only after RATE_CONFIRM_FRAMES in a row. */
  private rateHolds(rate: number): boolean {
    if (rate === this.frame.sampleRateHz) {
      this.candidateFrames = 0;
      return true;
    }
    if (this.frame.sampleRateHz === 0) {
      this.frame.sampleRateHz = rate;
      return true;
    }
    this.candidateFrames = rate === this.candidateRate ? this.candidateFrames + 1 : 1;
    this.candidateRate = rate;
    if (this.candidateFrames < RATE_CONFIRM_FRAMES) return false;
    this.frame.sampleRateHz = rate;
    this.candidateFrames = 0;
    return true;
  }
}

/** Why a frame is dropped: a value outside what a sensor can mean, or a rate that does not hold. */
export type DropKind = 'implausible rate' | 'implausible gain' | 'implausible baseline' | 'flapping rate';

function implausible(rate: number, gain: number, baseline: number): DropKind | null {
  if (!(rate >= PLAUSIBLE_RATE_HZ.min && rate <= PLAUSIBLE_RATE_HZ.max)) return 'implausible rate';
  if (!(Number.isFinite(gain) && Math.abs(gain) >= 1e-6 && Math.abs(gain) <= 1e9)) return 'implausible gain';
  if (!Number.isFinite(baseline)) return 'implausible baseline';
  return null;
}
