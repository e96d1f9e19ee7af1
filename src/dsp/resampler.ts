/**
 * Streaming rational resampler (polyphase FIR, Kaiser-windowed sinc designed at construction).
 * Converts any input rate to the output rate by L/M = out/in reduced. The passband is flat to
 * `passbandHz` and everything above min(in, out)/2 (aliases when decimating, images when
 * interpolating) is attenuated by at least `stopbandDb`.
 */
import { wasmBase64 } from './wasm/resample.wasm.js';

export interface ResamplerOptions {
  passbandHz?: number;
  stopbandDb?: number;
  /** Largest input frame the caller will pass (sizes the output buffers). */
  maxFrame?: number;
}

interface ResampleKernel {
  resample(
    phases: number,
    line: number,
    taps: number,
    up: number,
    down: number,
    length: number,
    out: number,
    phase: number,
  ): number;
}

let kernelModule: WebAssembly.Module | null = null;

/** A kernel instance on its own memory of `bytes` (each resampler owns one; compiled once). */
function instantiateKernel(bytes: number): { kernel: ResampleKernel; memory: WebAssembly.Memory } {
  kernelModule ??= new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'));
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
  const instance = new WebAssembly.Instance(kernelModule, { env: { memory } });
  return { kernel: instance.exports as unknown as ResampleKernel, memory };
}

function gcd(a: number, b: number): number {
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

export class Resampler {
  readonly inRateHz: number;
  readonly outRateHz: number;
  readonly up: number;
  readonly down: number;
  /** Group delay of the filter, in seconds. */
  readonly delaySeconds: number;
  readonly tapsPerPhase: number;
  /** Output of the last `process` call; valid until the next call. */
  readonly out: Float64Array;
  readonly outFlags: Uint8Array;
  private readonly maxFrame: number;
  // The filter runs in a WebAssembly kernel; these are views of its memory (null when in = out).
  private readonly kernel: ResampleKernel | null = null;
  private readonly phases: Float64Array | null = null; // phase-major, each phase's taps in chronological order
  private readonly line: Float64Array | null = null; // taps - 1 earlier samples, then the frame
  private phase = 0;
  private pendingFlags = 0;
  private primed = false;

  constructor(inRateHz: number, outRateHz: number, options: ResamplerOptions = {}) {
    if (!(inRateHz > 0 && outRateHz > 0)) throw new RangeError('resampler rates must be positive');
    this.inRateHz = inRateHz;
    this.outRateHz = outRateHz;
    const { up, down } = rateRatio(inRateHz, outRateHz);
    this.up = up;
    this.down = down;
    this.maxFrame = options.maxFrame ?? 4096;
    const outLength = Math.ceil((this.maxFrame * up) / down) + 2;
    this.outFlags = new Uint8Array(outLength);
    if (up === 1 && down === 1) {
      this.out = new Float64Array(outLength);
      this.tapsPerPhase = 1;
      this.delaySeconds = 0;
      return;
    }
    const stopHz = Math.min(inRateHz, outRateHz) / 2;
    const passHz = Math.min(options.passbandHz ?? 45, stopHz * 0.5);
    const proto = designLowpassFir(passHz, stopHz, inRateHz * up, options.stopbandDb ?? 70);
    // Taps per phase rounded up to a multiple of 4 (zero-padded): the kernel takes four per step.
    const taps = Math.ceil(Math.ceil(proto.length / up) / 4) * 4;
    this.tapsPerPhase = taps;
    // Kernel memory: phases, line (history + frame), output.
    const layout = [up * taps, taps - 1 + this.maxFrame, outLength];
    const { kernel, memory } = instantiateKernel(8 * layout.reduce((a, b) => a + b, 0));
    this.kernel = kernel;
    let at = 0;
    const view = (length: number): Float64Array => {
      const v = new Float64Array(memory.buffer, at, length);
      at += 8 * length;
      return v;
    };
    const phases = view(layout[0]);
    this.line = view(layout[1]);
    this.out = view(layout[2]);
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
    this.phases = phases;
    this.delaySeconds = (proto.length - 1) / 2 / (inRateHz * up);
  }

  /**
   * Consumes x[offset..offset+length) (and the flags at the same indices), length <= maxFrame;
   * returns the number of output samples written to `out` / `outFlags`. Output flags are the OR of
   * the flags of the inputs they follow.
   */
  process(x: Float64Array, offset: number, length: number, flags?: Uint8Array): number {
    if (length > this.maxFrame) throw new RangeError(`frame of ${length} exceeds maxFrame ${this.maxFrame}`);
    const out = this.out;
    const outFlags = this.outFlags;
    const kernel = this.kernel;
    if (kernel === null) {
      for (let i = 0; i < length; i++) {
        out[i] = x[offset + i];
        outFlags[i] = flags ? flags[offset + i] : 0;
      }
      return length;
    }
    const line = this.line!;
    const keep = this.tapsPerPhase - 1;
    if (!this.primed && length > 0) {
      line.fill(x[offset], 0, keep); // start from the first value, not from zero: no start-up step
      this.primed = true;
    }
    for (let i = 0; i < length; i++) line[keep + i] = x[offset + i];
    const phase0 = this.phase;
    const n = kernel.resample(
      this.phases!.byteOffset,
      line.byteOffset,
      this.tapsPerPhase,
      this.up,
      this.down,
      length,
      this.out.byteOffset,
      phase0,
    );
    this.phase = phase0 + n * this.down - length * this.up;
    for (let i = 0; i < keep; i++) line[i] = line[length + i]; // a loop: copyWithin costs more on so few

    this.spreadFlags(flags, offset, length, phase0, n);
    return n;
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
    if (any === 0) {
      for (let k = 0; k < n; k++) outFlags[k] = 0;
      return;
    }
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
