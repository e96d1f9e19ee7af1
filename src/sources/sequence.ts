import type { SampleFrame } from '../protocols/types.js';

/**
 * Detects lost samples from the wire's sequence numbers. Returns, for each frame, how many samples
 * were lost before it (estimated from the missing frames times this frame's size when the
 * sequence counts frames).
 */
export class SequenceTracker {
  private expected: number | null = null;
  lostSamples = 0;
  gaps = 0;

  check(f: SampleFrame): number {
    if (f.seq === null || f.seqModulus === 0) return 0;
    const step = f.seqPerSample ? f.samples.length : 1;
    let lost = 0;
    if (this.expected !== null && f.seq !== this.expected) {
      const missing = (f.seq - this.expected + f.seqModulus) % f.seqModulus;
      lost = f.seqPerSample ? missing : missing * f.samples.length;
      this.lostSamples += lost;
      this.gaps++;
    }
    this.expected = (f.seq + step) % f.seqModulus;
    return lost;
  }
}
