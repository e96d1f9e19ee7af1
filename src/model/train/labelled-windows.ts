import { analyzeRecord } from '../../analysis/analyze-record.js';
import type { CleaningOptions } from '../../dsp/chain.js';
import type { WindowSpec } from '../../dsp/window-spec.js';
import { type Segment } from '../../records/segments.js';

/** A usable model window that lies wholly inside one labelled segment. */
export interface LabelledWindow {
  segment: Segment;
  startS: number;
  samples: Float32Array;
}

/**
 * Runs the record through the daemon's own chain and keeps the usable windows (good or acceptable)
 * that lie inside a labelled segment, so training sees exactly what the daemon will feed the model.
 */
export async function labelledWindows(
  record: string,
  segments: Segment[],
  spec: WindowSpec,
  cleaning?: CleaningOptions,
): Promise<LabelledWindow[]> {
  const out: LabelledWindow[] = [];
  const lengthS = spec.windowSamples / spec.sampleRateHz;
  await analyzeRecord(record, {
    spec,
    cleaning,
    onWindow: (w, startS) => {
      if (w.quality === 'unusable') return;
      const segment = segments.find((s) => startS >= s.startS && startS + lengthS <= s.endS);
      if (segment) out.push({ segment, startS, samples: w.copySamples() });
    },
  });
  return out;
}

/** Every usable window of a record (good or acceptable), as the daemon would feed the model. */
export async function usableWindows(record: string, spec: WindowSpec): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  await analyzeRecord(record, {
    spec,
    onWindow: (w) => {
      if (w.quality !== 'unusable') out.push(w.copySamples());
    },
  });
  return out;
}
