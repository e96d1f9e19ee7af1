import type { Section } from './filter-design.js';
import type { SampleRing } from './ring-buffer.js';
import { DspArena, InputOffset } from './wasm/arena.js';

/**
 * A streaming cascade of biquads in direct form I, run by the `cascade` kernel of dsp.wat. It
 * filters one buffer of its arena into another (or in place), so a frame costs one kernel call;
 * coefficients and state live in the arena too.
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
  private readonly input: InputOffset;
  private readonly output: InputOffset;

  /** Bytes of arena a cascade of `sections` takes (coefficients and state). */
  static arenaBytes(sections: number): number {
    return DspArena.bytesFor(sections * 5, sections * 4);
  }

  /** A cascade whose inputs and outputs are buffers of `arena`. */
  constructor(sections: readonly Section[], arena: DspArena) {
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
    this.input = new InputOffset(arena);
    this.output = new InputOffset(arena);
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
   * Filters input[offset .. offset+length) into output at the same indices (in place by default),
   * and appends the filtered samples to `ring` too when one is given (written in place when the
   * ring is in this arena and they do not wrap there).
   */
  process(
    input: Float64Array,
    offset: number,
    length: number,
    output: Float64Array = input,
    ring: SampleRing | null = null,
  ): void {
    if (offset < 0 || offset + length > Math.min(input.length, output.length))
      throw new RangeError(`[${offset}, ${offset + length}) is outside the cascade's buffers`);
    const outputAt = this.output.of(output) + 8 * offset;
    const slot = ring?.slotFor(length, this.arena) ?? -1;
    this.arena.kernels.cascade(
      this.coefAt,
      this.stateAt,
      this.input.of(input) + 8 * offset,
      outputAt,
      length,
      this.sectionCount,
      slot < 0 ? outputAt : slot,
    );
    if (ring === null) return;
    if (slot >= 0) ring.advance(length);
    else ring.push(output, offset, length);
  }
}
