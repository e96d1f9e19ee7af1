import type { SampleFrame } from '../protocols/types.js';

/** Below this many seconds between frames the sequence numbers alone are trusted. */
const WALL_CHECK_S = 0.5;

/**
 * Detects lost samples before each frame. The wire's sequence number gives the count exactly for
 * short gaps, but a counter wraps (BITalino every 16 samples, CAN every 256 frames) and a device
 * that restarts begins again at 0. So for a gap long enough to matter, the wall time since the last
 * frame gives the size too: the count taken is the one the sequence allows (its value plus whole
 * wraps) that lies nearest the wall-time figure, or the wall-time figure itself when none comes
 * near it (the counter restarted).
 */
export class SequenceTracker {
  private expected: number | null = null;
  private lastArrivalNs: bigint | null = null;
  lostSamples = 0;
  gaps = 0;

  /** `rateHz`: the sample rate for wires whose frames do not carry it. */
  constructor(private readonly rateHz?: number) {}

  check(f: SampleFrame, arrivalNs?: bigint): number {
    const since =
      this.lastArrivalNs !== null && arrivalNs !== undefined ? arrivalNs - this.lastArrivalNs : null;
    if (arrivalNs !== undefined) this.lastArrivalNs = arrivalNs;
    if (f.seq === null || f.seqModulus === 0) return 0;
    const step = f.seqPerSample ? f.samples.length : 1;
    let lost = 0;
    if (this.expected !== null && f.seq !== this.expected) {
      const missing = (f.seq - this.expected + f.seqModulus) % f.seqModulus;
      lost = f.seqPerSample ? missing : missing * f.samples.length;
    }
    const rate = f.sampleRateHz ?? this.rateHz;
    if (this.expected !== null && since !== null && rate && Number(since) / 1e9 > WALL_CHECK_S) {
      lost = this.nearestToWallTime(lost, f, rate, Number(since) / 1e9);
    }
    if (lost > 0) {
      this.lostSamples += lost;
      this.gaps++;
    }
    this.expected = (f.seq + step) % f.seqModulus;
    return lost;
  }

  private nearestToWallTime(bySequence: number, f: SampleFrame, rateHz: number, sinceS: number): number {
    // The frame's own samples arrived in the span too (its arrival marks its end).
    const byWall = Math.max(0, Math.round(sinceS * rateHz) - f.samples.length);
    const wrap = f.seqPerSample ? f.seqModulus : f.seqModulus * f.samples.length;
    const k = Math.max(0, Math.round((byWall - bySequence) / wrap));
    const candidate = bySequence + k * wrap;
    // Frames arrive in bursts (USB, buffering): half a wrap, or 0.25 s, whichever is more, is near.
    const near = Math.max(wrap / 2, 0.25 * rateHz);
    return Math.abs(candidate - byWall) <= near ? candidate : byWall;
  }
}
