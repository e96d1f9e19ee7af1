import type { Section } from './filter-design.js';
import { DspArena } from './wasm/arena.js';

/**
 * A streaming cascade of biquads in direct form I, run by the `cascade` kernel of dsp.wat. It
 * filters one buffer of an arena into another (or in place), both fixed at construction, so a
 * frame costs one kernel call; coefficients and state live in the arena too.
 *
 * Direct form I rather than the transposed form II: its recursion passes through one multiply and
 * one add per sample (a1·y[n-1]), where DF2T's passes through two of each, so a section runs at
 * nearly twice the rate. In float64 both forms agree to ~1e-12 here.
 */
export class SosCascade {
  readonly sectionCount: number;
  private readonly arena: DspArena;
  private readonly coef: Float64Array;
  /** Per section: x[n-1], x[n-2], y[n-1], y[n-2]. */
  private readonly state: Float64Array;
  // Byte offsets in the arena, looked up once (a typed array's byteOffset is slow to read).
  private readonly coefAt: number;
  private readonly stateAt: number;
  private readonly inputAt: number;
  private readonly outputAt: number;
  private readonly length: number;

  /** Bytes of arena a cascade of `sections` takes (coefficients and state). */
  static arenaBytes(sections: number): number {
    return DspArena.bytesFor(sections * 5, sections * 4);
  }

  /** Filters `input` into `output` (the same buffer by default), both buffers of `arena`. */
  constructor(sections: readonly Section[], arena: DspArena, input: Float64Array, output = input) {
    if (sections.length === 0) throw new RangeError('a cascade needs at least one section');
    this.sectionCount = sections.length;
    this.arena = arena;
    this.coef = arena.f64(sections.length * 5);
    this.state = arena.f64(sections.length * 4);
    sections.forEach((s, i) => {
      this.coef.set(s, i * 5);
    });
    this.coefAt = arena.offsetOf(this.coef);
    this.stateAt = arena.offsetOf(this.state);
    this.inputAt = arena.offsetOf(input);
    this.outputAt = arena.offsetOf(output);
    this.length = Math.min(input.length, output.length);
  }

  /** Sets the state to the steady state for a constant input `x0` (avoids a start-up step transient). */
  primeWith(x0: number): void {
    let u = x0;
    const coef = this.coef;
    for (let s = 0; s < this.sectionCount; s++) {
      const c = s * 5;
      const y = (u * (coef[c] + coef[c + 1] + coef[c + 2])) / (1 + coef[c + 3] + coef[c + 4]);
      this.state.set([u, u, y, y], 4 * s);
      u = y;
    }
  }

  /**
   * Filters input[offset .. offset+length) into output at the same indices, and into the arena at
   * byte offset `copyTo` too unless it is -1 (a ring's slot: see SampleRing.slotFor).
   */
  process(offset: number, length: number, copyTo = -1): void {
    if (offset < 0 || offset + length > this.length)
      throw new RangeError(`[${offset}, ${offset + length}) is outside the cascade's ${this.length} samples`);
    this.arena.kernels.cascade(
      this.coefAt,
      this.stateAt,
      this.inputAt + 8 * offset,
      this.outputAt + 8 * offset,
      length,
      this.sectionCount,
      copyTo < 0 ? this.outputAt + 8 * offset : copyTo,
    );
  }
}
