import type { DecoderStats, SampleFrame } from '../protocols/types.js';
import { SequenceTracker } from './sequence.js';

/** connected: bytes arriving; silent: connected but nothing for a while; disconnected: no device. */
export type SourceState = 'connected' | 'silent' | 'disconnected';

export interface SourceEvents {
  /** Decoded samples, with the arrival time (process.hrtime.bigint) of the bytes that completed them. */
  onFrame: (f: SampleFrame, arrivalNs: bigint) => void;
  /**
   * Samples lost before the next frame (a sequence jump; null when the protocol cannot tell how
   * many, e.g. ASCII after a reconnect): the pipeline must not bridge it.
   */
  onGap: (lostSamples: number | null) => void;
  onState: (state: SourceState, detail: string) => void;
}

export interface SourceStats extends DecoderStats {
  gaps: number;
  lostSamples: number;
  reconnects: number;
  bytes: number;
  /** Frames dropped for an implausible rate, gain or baseline (ScaledSource). */
  implausible?: number;
}

/** A source of wire frames (ADC values as the sensor sent them): serial, SLCAN, SocketCAN. */
export interface WireSource extends SourceEvents {
  readonly state: SourceState;
  readonly stats: SourceStats;
  start(): void;
  stop(): Promise<void>;
}

/**
 * `length` samples in mV as the pipeline takes them, with a SampleFlag per sample. The object and
 * its arrays are reused by the source: valid during the `onFrame` call only.
 */
export interface EcgFrame {
  mv: Float64Array;
  flags: Uint8Array;
  length: number;
  sampleRateHz: number;
}

/** What the daemon reads: ECG in mV, whatever brings it (a sensor through ScaledSource, a record). */
export interface EcgSource {
  onFrame: (frame: EcgFrame, arrivalNs: bigint) => void;
  onGap: (lostSamples: number | null) => void;
  onState: (state: SourceState, detail: string) => void;
  readonly state: SourceState;
  readonly stats: SourceStats;
  /** For logs: `serial:/dev/ttyUSB0`, `record:drive06`. */
  readonly name: string;
  /** The record a replaying source plays (the report looks for its labels beside it). */
  readonly record?: string;
  /** The recording a replayed record is, or was cut from (whether a model trained on it). */
  readonly origin?: string;
  start(): void;
  stop(): Promise<void>;
}

/**
 * What every source shares, whatever brings the bytes: the callbacks, sequence-gap tracking, and
 * the state rule (report each change, and each new reason for being disconnected).
 */
export abstract class SourceBase implements SourceEvents {
  onFrame: (f: SampleFrame, arrivalNs: bigint) => void = () => {};
  onGap: (lostSamples: number | null) => void = () => {};
  onState: (state: SourceState, detail: string) => void = () => {};
  state: SourceState = 'disconnected';
  reconnects = 0;
  protected readonly sequence = new SequenceTracker();
  private detail = '';

  setState(state: SourceState, detail: string): void {
    if (state === this.state && (state !== 'disconnected' || detail === this.detail)) return;
    this.state = state;
    this.detail = detail;
    this.onState(state, detail);
  }

  protected statsWith(decoder: DecoderStats, bytes: number): SourceStats {
    return {
      ...decoder,
      gaps: this.sequence.gaps,
      lostSamples: this.sequence.lostSamples,
      reconnects: this.reconnects,
      bytes,
    };
  }
}
