/** The serial wire protocols (SLCAN is CAN over a serial line): what replay sends and the sources read. */
export const SERIAL_PROTOCOLS = ['ecg-serial', 'ascii', 'bitalino', 'slcan'] as const;
export type SerialProtocol = (typeof SERIAL_PROTOCOLS)[number];

/** Per-frame status a sensor may report. */
export const FrameFlag = {
  LeadOff: 1,
  Saturated: 2,
} as const;

/** What a decoder hands on: ADC samples of one channel, with what the wire said about them. */
export interface SampleFrame {
  /** Sequence number as sent (its modulus is the protocol's), or null when the protocol has none. */
  seq: number | null;
  /** Modulus of `seq` (65536, 256, 16), or 0. */
  seqModulus: number;
  /** `seq` counts samples (BITalino: one per sample frame) rather than wire frames. */
  seqPerSample: boolean;
  flags: number;
  /** ADC values. */
  samples: Int32Array;
  /** Sample rate, gain (ADC units per mV) and baseline where the wire carries them. */
  sampleRateHz?: number;
  gain?: number;
  baseline?: number;
}

export interface DecoderStats {
  frames: number;
  samples: number;
  /** Frames whose checksum failed (dropped). */
  crcErrors: number;
  /** Bytes, lines or frames that could not be parsed at all (dropped). */
  malformed: number;
}

/**
 * A byte-stream decoder: `push` any chunk (split anywhere); complete frames go to `onFrame`.
 * Never throws on input; bad input is counted in `stats` and skipped.
 */
export interface StreamDecoder {
  onFrame: (f: SampleFrame) => void;
  readonly stats: DecoderStats;
  push(chunk: Uint8Array): void;
}

export const emptyStats = (): DecoderStats => ({ frames: 0, samples: 0, crcErrors: 0, malformed: 0 });
