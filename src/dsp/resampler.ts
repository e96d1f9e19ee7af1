/**
 * Streaming rational resampler (polyphase FIR, Kaiser-windowed sinc designed at construction).
 * Converts any input rate to the output rate by L/M = out/in reduced. The passband is flat to
 * `passbandHz` and everything above min(in, out)/2 (aliases when decimating, images when
 * interpolating) is attenuated by at least `stopbandDb`.
 */
export interface ResamplerOptions {
  passbandHz?: number;
  stopbandDb?: number;
  /** Largest input frame the caller will pass (sizes the output buffers). */
  maxFrame?: number;
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
  private readonly phases: Float64Array; // phase-major, each phase's taps in chronological order
  private readonly history: Float64Array; // every sample stored twice so a window is contiguous
  private write = 0;
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
    const maxFrame = options.maxFrame ?? 4096;
    this.out = new Float64Array(Math.ceil((maxFrame * up) / down) + 2);
    this.outFlags = new Uint8Array(this.out.length);
    if (up === 1 && down === 1) {
      this.tapsPerPhase = 1;
      this.phases = new Float64Array([1]);
      this.history = new Float64Array(2);
      this.delaySeconds = 0;
      return;
    }
    const stopHz = Math.min(inRateHz, outRateHz) / 2;
    const passHz = Math.min(options.passbandHz ?? 45, stopHz * 0.5);
    const proto = designLowpassFir(passHz, stopHz, inRateHz * up, options.stopbandDb ?? 70);
    // Taps per phase rounded up to a multiple of 4 (zero-padded) for the unrolled dot product.
    const taps = Math.ceil(Math.ceil(proto.length / up) / 4) * 4;
    this.tapsPerPhase = taps;
    this.phases = new Float64Array(up * taps);
    for (let p = 0; p < up; p++) {
      let sum = 0;
      for (let j = 0; j < taps; j++) {
        const i = p + j * up;
        const v = i < proto.length ? proto[i] : 0;
        this.phases[p * taps + (taps - 1 - j)] = v;
        sum += v;
      }
      // Unit DC gain in every phase: a constant input stays exactly constant (no phase ripple).
      for (let j = 0; j < taps; j++) this.phases[p * taps + j] /= sum;
    }
    this.history = new Float64Array(2 * taps);
    this.delaySeconds = (proto.length - 1) / 2 / (inRateHz * up);
  }

  /**
   * Consumes x[offset..offset+length) (and the flags at the same indices); returns the number of output samples
   * written to `out` / `outFlags`. Output flags are the OR of the flags of the inputs they follow.
   */
  process(x: Float64Array, offset: number, length: number, flags?: Uint8Array): number {
    const out = this.out;
    const outFlags = this.outFlags;
    if (this.up === 1 && this.down === 1) {
      for (let i = 0; i < length; i++) {
        out[i] = x[offset + i];
        outFlags[i] = flags ? flags[offset + i] : 0;
      }
      return length;
    }
    const taps = this.tapsPerPhase;
    const hist = this.history;
    const phases = this.phases;
    const up = this.up;
    const down = this.down;
    if (!this.primed && length > 0) {
      hist.fill(x[offset]); // start from the first value, not from zero: no start-up step
      this.primed = true;
    }
    let w = this.write;
    let phase = this.phase;
    let pending = this.pendingFlags;
    let n = 0;
    for (let i = offset; i < offset + length; i++) {
      const xi = x[i];
      hist[w] = xi;
      hist[w + taps] = xi;
      w = w + 1 === taps ? 0 : w + 1;
      const f = flags ? flags[i] : 0;
      pending |= f;
      while (phase < up) {
        // Four independent accumulators: V8 does not vectorise, this roughly halves the loop's cost.
        let c = phase * taps;
        const end = c + taps;
        let h = w;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (; c < end; c += 4, h += 4) {
          a0 += phases[c] * hist[h];
          a1 += phases[c + 1] * hist[h + 1];
          a2 += phases[c + 2] * hist[h + 2];
          a3 += phases[c + 3] * hist[h + 3];
        }
        out[n] = a0 + a1 + (a2 + a3);
        outFlags[n] = pending;
        pending = f;
        n++;
        phase += down;
      }
      phase -= up;
    }
    this.write = w;
    this.phase = phase;
    this.pendingFlags = pending;
    return n;
  }
}
