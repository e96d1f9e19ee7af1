import type { Section } from './filter-design.js';

/**
 * A streaming cascade of biquads (direct form II transposed), filtering frames in place.
 * Coefficients and state live in typed arrays sized at construction: no allocation per frame.
 */
export class SosCascade {
  readonly sectionCount: number;
  private readonly coef: Float64Array;
  private readonly state: Float64Array;

  constructor(sections: readonly Section[]) {
    this.sectionCount = sections.length;
    this.coef = new Float64Array(sections.length * 5);
    this.state = new Float64Array(sections.length * 2);
    sections.forEach((s, i) => {
      this.coef.set(s, i * 5);
    });
  }

  /** Sets the state to the steady state for a constant input `x0` (avoids a start-up step transient). */
  primeWith(x0: number): void {
    let u = x0;
    for (let s = 0; s < this.sectionCount; s++) {
      const c = s * 5;
      const [b0, b1, b2, a1, a2] = [
        this.coef[c],
        this.coef[c + 1],
        this.coef[c + 2],
        this.coef[c + 3],
        this.coef[c + 4],
      ];
      const y = (u * (b0 + b1 + b2)) / (1 + a1 + a2);
      this.state[2 * s] = y - b0 * u;
      this.state[2 * s + 1] = b2 * u - a2 * y;
      u = y;
    }
  }

  /**
   * Filters x[offset .. offset+length) in place. Section by section over the frame, with the section's
   * coefficients and state held in locals: the fastest form in V8 for short frames.
   */
  process(x: Float64Array, offset: number, length: number): void {
    const coef = this.coef;
    const st = this.state;
    const end = offset + length;
    for (let s = 0; s < this.sectionCount; s++) {
      const c = s * 5;
      const b0 = coef[c];
      const b1 = coef[c + 1];
      const b2 = coef[c + 2];
      const a1 = coef[c + 3];
      const a2 = coef[c + 4];
      let s1 = st[2 * s];
      let s2 = st[2 * s + 1];
      for (let i = offset; i < end; i++) {
        const xi = x[i];
        const y = b0 * xi + s1;
        s1 = b1 * xi - a1 * y + s2;
        s2 = b2 * xi - a2 * y;
        x[i] = y;
      }
      st[2 * s] = s1;
      st[2 * s + 1] = s2;
    }
  }
}
