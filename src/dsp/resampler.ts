/**
 * Streaming rational resampler (polyphase FIR, Kaiser-windowed sinc designed at construction).
 * Converts any input rate to the output rate by L/M = out/in reduced. The passband is flat to
 * `passbandHz` and everything above min(in, out)/2 (aliases when decimating, images when
 * interpolating) is attenuated by at least `stopbandDb`.
 */
import { DspArena } from './wasm/arena.js';

export interface ResamplerOptions {
  passbandHz?: number;
  stopbandDb?: number;
  /** Largest input frame the caller will pass (sizes the output buffers). */
  maxFrame?: number;
  /** Where the buffers live (a chain shares one with its other stages); by default its own. */
  arena?: DspArena;
}

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Rates as a reduced integer ratio; non-integer rates (e.g. 15.5 Hz frames × 32) are scaled up first. */
export function rateRatio(inHz: number, outHz: number): { up: number; down: number } {
  let scaleBy = 1;
  while ((!Number.isInteger(inHz * scaleBy) || !Number.isInteger(outHz * scaleBy)) && scaleBy < 1e6)
    scaleBy *= 10;
  const a = Math.round(inHz * scaleBy);
  const b = Math.round(outHz * scaleBy);
  const g = gcd(a, b);
  return { up: b / g, down: a / g };
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Kaiser-windowed low-pass prototype at `rateHz`, cutoff midway through the transition band. */
export function designLowpassFir(
  passHz: number,
  stopHz: number,
  rateHz: number,
  attenuationDb: number,
): Float64Array {
  const dw = (2 * Math.PI * (stopHz - passHz)) / rateHz;
  const n = Math.ceil((attenuationDb - 7.95) / (2.285 * dw)) + 1;
  const beta =
    attenuationDb > 50
      ? 0.1102 * (attenuationDb - 8.7)
      : attenuationDb >= 21
        ? 0.5842 * (attenuationDb - 21) ** 0.4 + 0.07886 * (attenuationDb - 21)
        : 0;
  const fc = (passHz + stopHz) / 2 / rateHz;
  const h = new Float64Array(n);
  const mid = (n - 1) / 2;
  const i0b = besselI0(beta);
  for (let i = 0; i < n; i++) {
    const t = i - mid;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = (2 * i) / (n - 1) - 1;
    h[i] = sinc * (besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0b);
  }
  return h;
}

interface PolyphaseDesign {
  up: number;
  down: number;
  /** up × taps coefficients, phase-major, each phase in chronological order; null when in = out. */
  phases: Float64Array | null;
  taps: number;
  delaySeconds: number;
  maxFrame: number;
  outLength: number;
}

function designPolyphase(inRateHz: number, outRateHz: number, options: ResamplerOptions): PolyphaseDesign {
  if (!(inRateHz > 0 && outRateHz > 0)) throw new RangeError('resampler rates must be positive');
  const { up, down } = rateRatio(inRateHz, outRateHz);
  const maxFrame = options.maxFrame ?? 4096;
  const outLength = Resampler.outputLength(inRateHz, outRateHz, maxFrame);
  if (up === 1 && down === 1)
    return { up, down, phases: null, taps: 1, delaySeconds: 0, maxFrame, outLength };
  const stopHz = Math.min(inRateHz, outRateHz) / 2;
  const passHz = Math.min(options.passbandHz ?? 45, stopHz * 0.5);
  const proto = designLowpassFir(passHz, stopHz, inRateHz * up, options.stopbandDb ?? 70);
  // Taps per phase rounded up to a multiple of 4 (zero-padded): the kernel takes four per step.
  const taps = Math.ceil(Math.ceil(proto.length / up) / 4) * 4;
  const phases = new Float64Array(up * taps);
  for (let p = 0; p < up; p++) {
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const i = p + j * up;
      const v = i < proto.length ? proto[i] : 0;
      phases[p * taps + (taps - 1 - j)] = v;
      sum += v;
    }
    // Unit DC gain in every phase: a constant input stays constant (no phase ripple).
    for (let j = 0; j < taps; j++) phases[p * taps + j] /= sum;
  }
  const delaySeconds = (proto.length - 1) / 2 / (inRateHz * up);
  return { up, down, phases, taps, delaySeconds, maxFrame, outLength };
}

/**
 * The line holds the taps - 1 samples before the next input, then the frame; frames are appended
 * and the tail moved back to the start only when the line is full, not after every frame.
 */
function lineLength(d: PolyphaseDesign): number {
  return d.taps - 1 + d.maxFrame + Math.max(d.maxFrame, 512);
}

/** Arena buffers of a design: phases, line, output. */
function bufferLengths(d: PolyphaseDesign): number[] {
  return d.phases === null ? [d.outLength] : [d.phases.length, lineLength(d), d.outLength];
}

export class Resampler {
  readonly inRateHz: number;
  readonly outRateHz: number;
  readonly up: number;
  readonly down: number;
  /** Group delay of the filter, in seconds. */
  readonly delaySeconds: number;
  readonly tapsPerPhase: number;
  /** Output of the last `process` call (a buffer of the arena); valid until the next call. */
  readonly out: Float64Array;
  readonly outFlags: Uint8Array;
  /** Whether any of the last `process` call's output flags is set (most frames carry none). */
  outFlagged = false;
  /** outFlags[0 .. flagsDirty) may hold flags; the rest are 0. */
  private flagsDirty = 0;
  private readonly maxFrame: number;
  private readonly arena: DspArena;
  // Views of the arena; null when in = out (samples are copied through).
  private readonly phases: Float64Array | null = null;
  private readonly line: Float64Array | null = null; // see lineLength
  private lineStart = 0; // where the taps - 1 samples before the next input begin
  // Byte offsets of phases, line and out in the arena, looked up once.
  private readonly phasesAt: number = 0;
  private readonly lineAt: number = 0;
  private readonly outAt: number;
  private phase = 0;
  private pendingFlags = 0;
  private primed = false;

  /** The size of `out`: the most output samples a frame of `maxFrame` can give. */
  static outputLength(inRateHz: number, outRateHz: number, maxFrame: number): number {
    const { up, down } = rateRatio(inRateHz, outRateHz);
    return Math.ceil((maxFrame * up) / down) + 2;
  }

  /** Bytes of arena a resampler with these parameters takes. */
  static arenaBytes(inRateHz: number, outRateHz: number, options: ResamplerOptions = {}): number {
    return DspArena.bytesFor(...bufferLengths(designPolyphase(inRateHz, outRateHz, options)));
  }

  constructor(inRateHz: number, outRateHz: number, options: ResamplerOptions = {}) {
    const design = designPolyphase(inRateHz, outRateHz, options);
    this.inRateHz = inRateHz;
    this.outRateHz = outRateHz;
    this.up = design.up;
    this.down = design.down;
    this.tapsPerPhase = design.taps;
    this.delaySeconds = design.delaySeconds;
    this.maxFrame = design.maxFrame;
    this.arena = options.arena ?? new DspArena(DspArena.bytesFor(...bufferLengths(design)));
    this.outFlags = new Uint8Array(design.outLength);
    if (design.phases !== null) {
      this.phases = this.arena.f64(design.phases.length);
      this.phases.set(design.phases);
      this.line = this.arena.f64(lineLength(design));
      this.phasesAt = this.arena.offsetOf(this.phases);
      this.lineAt = this.arena.offsetOf(this.line);
    }
    this.out = this.arena.f64(design.outLength);
    this.outAt = this.arena.offsetOf(this.out);
  }

  /**
   * Consumes x[offset..offset+length) (and the flags at the same indices), length <= maxFrame;
   * returns the number of output samples written to `out` / `outFlags`. Output flags are the OR of
   * the flags of the inputs they follow.
   */
  process(x: Float64Array, offset: number, length: number, flags?: Uint8Array): number {
    if (length > this.maxFrame) throw new RangeError(`frame of ${length} exceeds maxFrame ${this.maxFrame}`);
    const out = this.out;
    const line = this.line;
    if (line === null) {
      const outFlags = this.outFlags;
      let any = 0;
      for (let i = 0; i < length; i++) {
        out[i] = x[offset + i];
        const f = flags ? flags[offset + i] : 0;
        outFlags[i] = f;
        any |= f;
      }
      this.outFlagged = any !== 0;
      return length;
    }
    const keep = this.tapsPerPhase - 1;
    if (!this.primed && length > 0) {
      line.fill(x[offset], 0, keep); // start from the first value, not from zero: no start-up step
      this.primed = true;
    }
    let start = this.lineStart;
    if (start + keep + length > line.length) {
      for (let i = 0; i < keep; i++) line[i] = line[start + i];
      start = 0;
    }
    const at = start + keep;
    for (let i = 0; i < length; i++) line[at + i] = x[offset + i];
    this.lineStart = start + length;
    const phase0 = this.phase;
    const n = this.arena.kernels.resample(
      this.phasesAt,
      this.lineAt + 8 * start,
      this.tapsPerPhase,
      this.up,
      this.down,
      length,
      this.outAt,
      phase0,
    );
    this.phase = phase0 + n * this.down - length * this.up;
    this.spreadFlags(flags, offset, length, phase0, n);
    return n;
  }

  /** ORs `flag` into the first output sample of the last `process` call (a gap before it). */
  flagFirstOutput(flag: number): void {
    this.outFlags[0] |= flag;
    this.outFlagged = true;
    this.flagsDirty = Math.max(this.flagsDirty, 1);
  }

  /** Output flags, following the kernel's schedule of outputs over inputs. */
  private spreadFlags(
    flags: Uint8Array | undefined,
    offset: number,
    length: number,
    phase: number,
    n: number,
  ): void {
    const outFlags = this.outFlags;
    let pending = this.pendingFlags;
    let any = pending;
    if (flags) for (let i = 0; i < length; i++) any |= flags[offset + i];
    this.outFlagged = any !== 0;
    if (any === 0) {
      for (let k = 0; k < this.flagsDirty; k++) outFlags[k] = 0;
      this.flagsDirty = 0;
      return;
    }
    this.flagsDirty = Math.max(this.flagsDirty, n);
    let k = 0;
    for (let i = 0; i < length; i++) {
      const f = flags ? flags[offset + i] : 0;
      pending |= f;
      for (; phase < this.up; phase += this.down) {
        outFlags[k++] = pending;
        pending = f;
      }
      phase -= this.up;
    }
    this.pendingFlags = pending;
  }
}
