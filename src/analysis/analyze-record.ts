import { type CleaningOptions, cleaningSections, DEFAULT_CLEANING, EcgChain } from '../dsp/chain.js';
import { groupDelayAt } from '../dsp/filter-design.js';
import { SampleFlag } from '../dsp/flags.js';
import { type QualityClass, type QualityThresholds, reasonNames } from '../dsp/quality.js';
import { DEFAULT_WINDOW_SPEC, type WindowSpec } from '../dsp/window-spec.js';
import type { EcgWindow } from '../dsp/windower.js';
import { RecordError } from '../records/errors.js';
import { openChannel } from '../records/open.js';
import { atRail } from '../records/types.js';

export interface AnalyzeOptions {
  channel?: number | string;
  fromS?: number;
  toS?: number;
  /** Sample rate of text records. */
  sampleRateHz?: number;
  cleaning?: CleaningOptions;
  spec?: WindowSpec;
  /** Frame size fed to the chain (samples), as a sensor would deliver them. */
  frameSamples?: number;
  thresholds?: QualityThresholds;
  maxDecisionDelayS?: number;
  /** Sees every window (reused object: copy what you keep) with its start in record seconds. */
  onWindow?: (w: EcgWindow, startS: number) => void;
}

export interface WindowSummary {
  startS: number;
  endS: number;
  /** meanHrBpm covers beats in [startS, beatsUntilS) (EcgWindow.beatsUntilIndex). */
  beatsUntilS: number;
  quality: QualityClass;
  reasons: string[];
  meanHrBpm: number;
}

export interface RecordAnalysis {
  record: string;
  channel: string;
  sampleRateHz: number;
  durationS: number;
  /** R-peak times in seconds from the start of the record. */
  beatTimesS: number[];
  maxDecisionDelayS: number;
  windows: WindowSummary[];
}

/** Runs a record's channel through the streaming chain exactly as the daemon would, frame by frame. */
export async function analyzeRecord(path: string, options: AnalyzeOptions = {}): Promise<RecordAnalysis> {
  const reader = await openChannel(path, { channel: options.channel, sampleRateHz: options.sampleRateHz });
  const info = reader.info;
  const spec = options.spec ?? DEFAULT_WINDOW_SPEC;
  const cleaning = options.cleaning ?? DEFAULT_CLEANING;
  const frame = options.frameSamples ?? 20;
  const chain = new EcgChain({
    inputRateHz: info.sampleRateHz,
    spec,
    cleaning,
    maxFrame: frame,
    thresholds: options.thresholds,
    maxDecisionDelayS: options.maxDecisionDelayS,
  });
  const fromSample = Math.max(0, Math.round((options.fromS ?? 0) * info.sampleRateHz));
  const toSample = options.toS === undefined ? undefined : Math.round(options.toS * info.sampleRateHz);
  // Model-rate index → seconds in the record: undo the resampler's and the cleaning filters' delay.
  const delayS =
    chain.delaySeconds + groupDelayAt(cleaningSections(cleaning, spec.sampleRateHz), 10, spec.sampleRateHz);
  const t0 = fromSample / info.sampleRateHz;
  const toRecordS = (index: number) => t0 + index / spec.sampleRateHz - delayS;
  const beatTimesS: number[] = [];
  let maxDelay = 0;
  chain.onBeat = (index, _bpm, decidedAt) => {
    beatTimesS.push(toRecordS(index));
    maxDelay = Math.max(maxDelay, decidedAt - index);
  };
  const windows: WindowSummary[] = [];
  chain.onWindow = (w) => {
    options.onWindow?.(w, toRecordS(w.startIndex));
    windows.push({
      startS: toRecordS(w.startIndex),
      endS: toRecordS(w.endIndex),
      beatsUntilS: toRecordS(w.beatsUntilIndex),
      quality: w.quality,
      reasons: reasonNames(w.reasons),
      meanHrBpm: w.heartRate.meanBpm,
    });
  };
  const x = new Float64Array(frame);
  const flags = new Uint8Array(frame);
  let count = 0;
  for await (const chunk of reader.chunks({ fromSample, toSample })) {
    if (chunk.gapBeforeS) chain.markGap(); // EDF+D: no window may bridge it
    const phys = chunk.physical;
    const dig = chunk.digital;
    for (let i = 0; i < phys.length; i += frame) {
      const n = Math.min(frame, phys.length - i);
      for (let k = 0; k < n; k++) {
        x[k] = phys[i + k];
        flags[k] = dig !== null && atRail(info, dig[i + k]) ? SampleFlag.Saturated : 0;
      }
      chain.push(x, n, flags);
    }
    count += phys.length;
  }
  if (count === 0) throw new RecordError(path, 'holds no samples in the range read');
  return {
    record: path,
    channel: info.label,
    sampleRateHz: info.sampleRateHz,
    durationS: count / info.sampleRateHz,
    beatTimesS,
    maxDecisionDelayS: maxDelay / spec.sampleRateHz,
    windows,
  };
}

export interface AnalysisSummary {
  record: string;
  channel: string;
  sampleRateHz: number;
  durationS: number;
  beats: number;
  heartRateBpm: { mean: number; min: number; max: number } | null;
  windows: { total: number; good: number; acceptable: number; unusable: number };
  windowShare: { good: number; acceptable: number; unusable: number };
}

/** The figures `analyze` prints. Heart-rate extremes come from the usable windows' mean rates. */
export function summarize(a: RecordAnalysis): AnalysisSummary {
  const counts = { good: 0, acceptable: 0, unusable: 0 };
  const rates: number[] = [];
  for (const w of a.windows) {
    counts[w.quality]++;
    if (w.quality !== 'unusable' && Number.isFinite(w.meanHrBpm)) rates.push(w.meanHrBpm);
  }
  const total = a.windows.length;
  const share = (k: number) => (total === 0 ? 0 : k / total);
  const beatsPerS =
    a.beatTimesS.length > 1
      ? (a.beatTimesS.length - 1) / (a.beatTimesS.at(-1)! - a.beatTimesS[0])
      : Number.NaN;
  return {
    record: a.record,
    channel: a.channel,
    sampleRateHz: a.sampleRateHz,
    durationS: a.durationS,
    beats: a.beatTimesS.length,
    heartRateBpm:
      rates.length === 0 ? null : { mean: 60 * beatsPerS, min: Math.min(...rates), max: Math.max(...rates) },
    windows: { total, ...counts },
    windowShare: {
      good: share(counts.good),
      acceptable: share(counts.acceptable),
      unusable: share(counts.unusable),
    },
  };
}
