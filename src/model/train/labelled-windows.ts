import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { analyzeRecord } from '../../analysis/analyze-record.js';
import type { CleaningOptions } from '../../dsp/chain.js';
import type { WindowSpec } from '../../dsp/window-spec.js';
import { RecordError } from '../../records/errors.js';

/** A labelled stretch of a recording, e.g. one driving segment (Rest, City, Highway). */
export interface Segment {
  record: string;
  name: string;
  label: string;
  startS: number;
  endS: number;
}

/** A usable model window that lies wholly inside one labelled segment. */
export interface LabelledWindow {
  segment: Segment;
  startS: number;
  samples: Float32Array;
}

/** The labels file beside a record: `<record>_segments.csv` (as the shared drivedb folder has). */
export function segmentsFileOf(record: string): string | undefined {
  const f = `${record}_segments.csv`;
  return existsSync(f) ? f : undefined;
}

/**
 * Reads a segments CSV with a header: `segment`, `start_s`, `end_s` and the label column
 * (`stress` in drivedb's files).
 */
export async function readSegments(record: string, file: string, labelColumn: string): Promise<Segment[]> {
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0]?.split(',').map((h) => h.trim()) ?? [];
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new RecordError(file, `no column "${name}" in the header (${header.join(', ')})`);
    return i;
  };
  const [iName, iLabel, iStart, iEnd] = [col('segment'), col(labelColumn), col('start_s'), col('end_s')];
  return lines.slice(1).map((line, n) => {
    const f = line.split(',');
    const startS = Number(f[iStart]);
    const endS = Number(f[iEnd]);
    if (!(Number.isFinite(startS) && Number.isFinite(endS) && endS > startS) || !f[iLabel]) {
      throw new RecordError(file, `line ${n + 2}: bad segment "${line}"`);
    }
    return { record: basename(record), name: f[iName], label: f[iLabel].trim(), startS, endS };
  });
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
