import { type CanFrame, CanDecoder } from '../protocols/can.js';
import type { SampleFrame } from '../protocols/types.js';
import { SequenceTracker } from './sequence.js';
import type { SourceState, SourceStats } from './source.js';

/**
 * What every CAN source shares, whatever brings the frames (SocketCAN, a candump log): decoding
 * the sensor's frames, sequence gaps, and connected / silent state from frame arrivals.
 */
export class CanChannel {
  onFrame: (f: SampleFrame, arrivalNs: bigint) => void = () => {};
  onGap: (lostSamples: number | null) => void = () => {};
  onState: (state: SourceState, detail: string) => void = () => {};
  state: SourceState = 'disconnected';
  readonly decoder = new CanDecoder();
  private readonly sequence = new SequenceTracker();
  private detail = '';
  private lastFrameNs = 0n;
  private arrivalNs = 0n;
  reconnects = 0;
  frames = 0;

  constructor() {
    this.decoder.onFrame = (f) => {
      const lost = this.sequence.check(f);
      if (lost > 0) this.onGap(lost);
      this.onFrame(f, this.arrivalNs);
    };
  }

  /** A frame from the bus (any id: other traffic is ignored by the decoder). */
  receive(frame: CanFrame, arrivalNs = process.hrtime.bigint()): void {
    this.arrivalNs = arrivalNs;
    this.lastFrameNs = arrivalNs;
    this.frames++;
    if (this.state !== 'connected') this.setState('connected', 'frames arriving');
    this.decoder.push(frame);
  }

  /** Called periodically: no frame for `silenceMs` while up is `silent`. */
  checkSilence(silenceMs: number, nowNs = process.hrtime.bigint()): void {
    if (this.state === 'connected' && Number(nowNs - this.lastFrameNs) / 1e6 > silenceMs)
      this.setState('silent', `no CAN frame for ${silenceMs} ms`);
  }

  /** Reports changes, and a new reason for being disconnected (the first failed open too). */
  setState(state: SourceState, detail: string): void {
    if (state === this.state && (state !== 'disconnected' || detail === this.detail)) return;
    this.state = state;
    this.detail = detail;
    this.onState(state, detail);
  }

  get stats(): SourceStats {
    return {
      ...this.decoder.stats,
      gaps: this.sequence.gaps,
      lostSamples: this.sequence.lostSamples,
      reconnects: this.reconnects,
      bytes: 0,
    };
  }
}
