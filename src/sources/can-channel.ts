import { type CanFrame, CanDecoder } from '../protocols/can.js';
import { SourceBase, type SourceStats } from './source.js';

/**
 * What every CAN source shares, whatever brings the frames (SocketCAN, a candump log): decoding
 * the sensor's frames, sequence gaps, and connected / silent state from frame arrivals.
 */
export class CanChannel extends SourceBase {
  readonly decoder = new CanDecoder();
  private lastFrameNs = 0n;
  private arrivalNs = 0n;
  frames = 0;

  constructor() {
    super();
    this.decoder.onFrame = (f) => {
      const lost = this.sequence.check(f, this.arrivalNs);
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

  get stats(): SourceStats {
    return this.statsWith(this.decoder.stats, 0);
  }
}
