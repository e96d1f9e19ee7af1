/**
 * Fixed-capacity ring of samples with a per-sample flag byte, addressed by absolute sample index
 * (the count of samples ever written), so readers can ask for "samples [a, b)" without copying state.
 */
export class SampleRing {
  readonly capacity: number;
  private readonly values: Float64Array;
  private readonly flags: Uint8Array;
  /** Absolute index of the next sample to be written. */
  written = 0;

  constructor(capacity: number) {
    if (!(capacity > 0 && Number.isInteger(capacity)))
      throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    this.values = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  push(x: Float64Array, flags: Uint8Array | null, offset: number, length: number): void {
    const cap = this.capacity;
    let w = this.written % cap;
    for (let i = 0; i < length; i++) {
      this.values[w] = x[offset + i];
      this.flags[w] = flags ? flags[offset + i] : 0;
      w = w + 1 === cap ? 0 : w + 1;
    }
    this.written += length;
  }

  /** Oldest absolute index still held. */
  get oldest(): number {
    return Math.max(0, this.written - this.capacity);
  }

  /**
   * Copies samples [start, start+length) into `dst` (and their flags OR-ed into the return value).
   * Throws if the range has been overwritten or not yet written: that is a programming error.
   */
  copyOut(start: number, length: number, dst: Float32Array | Float64Array, dstOffset = 0): number {
    if (start < this.oldest || start + length > this.written) {
      throw new RangeError(
        `ring range [${start}, ${start + length}) not held ([${this.oldest}, ${this.written}))`,
      );
    }
    const cap = this.capacity;
    let r = start % cap;
    let f = 0;
    for (let i = 0; i < length; i++) {
      dst[dstOffset + i] = this.values[r];
      f |= this.flags[r];
      r = r + 1 === cap ? 0 : r + 1;
    }
    return f;
  }
}
