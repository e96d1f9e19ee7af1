/** One channel of a recording, read as a stream of chunks. Shared by WFDB, EDF and CSV readers. */
export interface ChannelInfo {
  /** Record name or file path as given by the user. */
  record: string;
  /** Channel label (e.g. "MLII", "ECG ECG"). */
  label: string;
  /** Index of the channel among the record's signals. */
  index: number;
  sampleRateHz: number;
  /** Number of samples of this channel, when the header says. */
  sampleCount: number | undefined;
  /** Physical unit of `physical` values as the file states it (mV after conversion when known). */
  unit: string;
  /** Digital-to-physical mapping, physical = (digital - baseline) / gain; null for text records. */
  gain: number | null;
  baseline: number | null;
  /** Smallest and largest representable digital values (ADC rails), when known. */
  digitalMin: number | null;
  digitalMax: number | null;
  /**
   * The recording this one was cut from, when its header says so (a WFDB comment line
   * `# excerpt of drivedb/drive06 …`): the report asks the model's training records about it.
   */
  origin?: string;
}

/** Whether a digital value sits at the channel's ADC rails (the signal was clipped there). */
export function atRail(info: ChannelInfo, digital: number): boolean {
  return (
    (info.digitalMin !== null && digital <= info.digitalMin) ||
    (info.digitalMax !== null && digital >= info.digitalMax)
  );
}

export interface Chunk {
  /** Index of the first sample of this chunk in the channel. */
  startSample: number;
  /** Values in physical units (mV when the unit is a voltage). */
  physical: Float64Array;
  /** Raw digital values (ADC counts) when the format has them. */
  digital: Int32Array | null;
  /** Seconds of recording missing before this chunk's first sample (an EDF+D discontinuity). */
  gapBeforeS?: number;
}

export interface ReadRange {
  /** First sample to read (inclusive). */
  fromSample?: number;
  /** Sample to stop at (exclusive). */
  toSample?: number;
  /** Samples per yielded chunk (approximate upper bound). */
  chunkSamples?: number;
}

export interface ChannelReader {
  readonly info: ChannelInfo;
  chunks(range?: ReadRange): AsyncIterable<Chunk>;
}

/** Scale factor from a voltage unit to millivolts, or null when the unit is not a voltage. */
export function toMillivolts(unit: string): number | null {
  const u = unit.trim().replace('µ', 'u').replace('μ', 'u');
  switch (u.toLowerCase()) {
    case 'mv':
      return 1;
    case 'uv':
      return 1e-3;
    case 'nv':
      return 1e-6;
    case 'v':
      return 1e3;
    default:
      return null;
  }
}
