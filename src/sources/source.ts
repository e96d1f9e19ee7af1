import type { DecoderStats, SampleFrame } from '../protocols/types.js';

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
}

export interface EcgSource extends SourceEvents {
  readonly state: SourceState;
  readonly stats: SourceStats;
  start(): void;
  stop(): Promise<void>;
}
