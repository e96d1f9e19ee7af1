import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { RecordError } from '../records/errors.js';
import { recordKind } from '../records/open.js';
import { openWfdb, wfdbBase } from '../records/wfdb.js';
import { readAnnotations } from '../records/wfdb-annotations.js';
import { resolveRecord } from '../records/resolve.js';
import { type AnalyzeOptions, analyzeRecord, type RecordAnalysis } from './analyze-record.js';
import {
  type Ec57Summary,
  type RecordScore,
  type ScoringReference,
  scoreRecord,
  scoringReference,
  summarizeScores,
} from './ec57.js';

export interface PeaksOptions {
  /** Reference annotator, the annotation file's extension (e.g. `atr`). */
  reference: string;
  toleranceS: number;
  fromS?: number;
  toS?: number;
  keepVf?: boolean;
  /** DSP settings for the chain, as the daemon's config gives them. */
  analysis?: Omit<AnalyzeOptions, 'fromS' | 'toS'>;
}

export interface PeaksResult extends Ec57Summary {
  /** Longest time from an R peak to its report, over every record. */
  maxDecisionDelayS: number;
}

/**
 * Record paths from arguments that name records (with or without `.hea`) or folders; a folder
 * gives each of its WFDB records that has the reference annotations, in name order.
 */
export async function expandRecords(args: readonly string[], annotator: string): Promise<string[]> {
  const out: string[] = [];
  for (const named of args) {
    const arg = resolveRecord(named);
    const isDir = await stat(arg).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) {
      if (recordKind(arg) !== 'wfdb') throw new RecordError(arg, 'reference annotations need a WFDB record');
      out.push(wfdbBase(arg));
      continue;
    }
    const names = await readdir(arg);
    const withRef = names
      .filter((n) => n.endsWith('.hea') && names.includes(`${n.slice(0, -4)}.${annotator}`))
      .map((n) => join(arg, n.slice(0, -4)))
      .sort();
    if (withRef.length === 0)
      throw new RecordError(arg, `no WFDB record with .${annotator} annotations here`);
    out.push(...withRef);
  }
  return out;
}

/**
 * Runs one record through the streaming chain as the daemon would and scores its beats (EC57);
 * the analysis and the reference come back too, for checks beyond the beats.
 */
export async function scoreRecordFile(
  path: string,
  options: PeaksOptions,
): Promise<{ score: RecordScore; analysis: RecordAnalysis; reference: ScoringReference }> {
  // The chain runs from the record's start (EC57's learning period is scored out, not skipped).
  const analysis = await analyzeRecord(path, { ...options.analysis, toS: options.toS });
  const rateHz = (await openWfdb(path)).header.frameRateHz;
  const reference = scoringReference(await readAnnotations(path, options.reference), rateHz);
  const score = scoreRecord(basename(path), reference, analysis.beatTimesS, options);
  return { score, analysis, reference };
}

export async function scoreRecords(paths: readonly string[], options: PeaksOptions): Promise<PeaksResult> {
  const scores: RecordScore[] = [];
  let maxDecisionDelayS = 0;
  for (const path of paths) {
    const r = await scoreRecordFile(path, options);
    scores.push(r.score);
    maxDecisionDelayS = Math.max(maxDecisionDelayS, r.analysis.maxDecisionDelayS);
  }
  return { ...summarizeScores(scores), maxDecisionDelayS };
}
