import type { DspArena } from './wasm/arena.js';

/**
 * Fixed-capacity ring of samples addressed by absolute sample index (the count of samples ever
 * written), so readers can ask for "samples [a, b)" without tracking the write position.
 */
export class SampleRing {
  readonly capacity: number;
  private readonly values: Float64Array;
  /** Byte offset of the values in their arena, or -1 when they are not in one. */
  private readonly valuesAt: number;
  private readonly arena: DspArena | null;
  /** Absolute index of the next sample to be written. */
  written = 0;

  /** In `arena`, a kernel can write the samples in place (see slotFor). */
  constructor(capacity: number, arena?: DspArena) {
    if (!(capacity > 0 && Number.isInteger(capacity)))
      throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    this.values = arena ? arena.f64(capacity) : new Float64Array(capacity);
    this.valuesAt = arena ? arena.offsetOf(this.values) : -1;
    this.arena = arena ?? null;
  }

  /**
   * Where in `arena` the next `length` samples go, if they lie in one run (the ring is in that
   * arena and they do not wrap), else -1. Whoever writes them there then calls `advance`.
   */
  slotFor(length: number, arena: DspArena): number {
    const w = this.written % this.capacity;
    return this.arena === arena && w + length <= this.capacity ? this.valuesAt + 8 * w : -1;
  }

  /** Counts `length` samples written in place at slotFor(length). */
  advance(length: number): void {
    this.written += length;
  }

  push(x: Float64Array, offset: number, length: number): void {
    const values = this.values;
    let w = this.written % this.capacity;
    // At most two contiguous runs: up to the end of the array, then from its start.
    let i = offset;
    const end = offset + length;
    while (i < end) {
      const run = Math.min(end - i, this.capacity - w);
      for (let k = 0; k < run; k++) values[w + k] = x[i + k];
      i += run;
      w = 0;
    }
    this.written += length;
  }

  /** The absolute index of the largest |sample| in [from, to] (the first of equals), all held. */
  argMaxAbs(from: number, to: number): number {
    return this.argMax(from, to, 0);
  }

  /**
   * The absolute index of the largest `sign` x sample in [from, to] (the first of equals), all held;
   * sign 0 takes |sample|.
   */
  argMax(from: number, to: number, sign: -1 | 0 | 1): number {
    const values = this.values;
    let best = to;
    let bestV = Number.NEGATIVE_INFINITY;
    // At most two contiguous runs of the array, without a division per sample.
    for (let k = from; k <= to;) {
      const r = k % this.capacity;
      const run = Math.min(to - k + 1, this.capacity - r);
      for (let j = 0; j < run; j++) {
        const x = values[r + j];
        const v = sign === 0 ? Math.abs(x) : sign * x;
        if (v > bestV) {
          bestV = v;
          best = k + j;
        }
      }
      k += run;
    }
    return best;
  }

  /** The sample at absolute index `k` (held). */
  valueAt(k: number): number {
    return this.values[k % this.capacity];
  }

  /** Oldest absolute index still held. */
  get oldest(): number {
    return Math.max(0, this.written - this.capacity);
  }

  /**
   * Copies samples [start, start+length) into `dst` as (x - shift) * scale (a window is normalised
   * in the same pass). Throws if the range has been overwritten or not yet written: asking for it
   * is a programming error.
   */
  copyOut(start: number, length: number, dst: Float32Array | Float64Array, shift = 0, scale = 1): void {
    if (start < this.oldest || start + length > this.written) {
      throw new RangeError(
        `ring range [${start}, ${start + length}) not held ([${this.oldest}, ${this.written}))`,
      );
    }
    const values = this.values;
    let r = start % this.capacity;
    let d = 0;
    const end = length;
    while (d < end) {
      const run = Math.min(end - d, this.capacity - r);
      for (let k = 0; k < run; k++) dst[d + k] = (values[r + k] - shift) * scale;
      d += run;
      r = 0;
    }
  }
}
