import { join } from 'node:path';
import type { RecordAnalysis } from '../analysis/analyze-record.js';
import { sharedDataDir } from '../paths.js';
import { type Ec57Summary, type RecordScore, formatEc57Table, summarizeScores } from '../analysis/ec57.js';
import {
  type HrvAgreement,
  type HrvWindow,
  type QualityAgreement,
  hrvAgreement,
  hrvWindows,
  qualityAgreement,
} from '../analysis/hrv-check.js';
import { scoreRecordFile } from '../analysis/peaks.js';

/** The 25 MIT-BIH records in ../shared/data/ecg/mitdb. */
export const SHARED_MITDB = [
  '100', '101', '102', '104', '105', '108', '111', '113', '115', '118', '119', '121', '123',
  '200', '201', '205', '210', '213', '215', '219', '221', '223', '230', '232', '234',
]; // prettier-ignore
/** The detector's constants were chosen on these (every other shared record, in name order)... */
export const TUNING_RECORDS = SHARED_MITDB.filter((_, i) => i % 2 === 0);
/** ...and checked on these. */
export const HELD_OUT_RECORDS = SHARED_MITDB.filter((_, i) => i % 2 === 1);
export const NOISE_STRESS = ['118e24', '118e12'];

/** Published figures on the whole MIT-BIH database, for comparison. */
export const ANCHORS = [
  { name: 'Pan & Tompkins 1985', sensitivity: 0.993, ppv: 0.995 },
  { name: 'Hamilton & Tompkins 1986', sensitivity: 0.997, ppv: 0.998 },
];

export interface PeaksBenchResult {
  all: Ec57Summary;
  tuning: { sensitivity: number; ppv: number };
  heldOut: { sensitivity: number; ppv: number };
  noiseStress: RecordScore[];
  maxDecisionDelayS: number;
  hrv: HrvAgreement;
  quality: QualityAgreement & { usableHrWithin5BpmShare: number; unusableShare: number };
}

interface Scored {
  score: RecordScore;
  analysis: RecordAnalysis;
  hrv: HrvWindow[];
  quality: QualityAgreement;
}

async function scoreShared(path: string): Promise<Scored> {
  const { score, analysis, reference } = await scoreRecordFile(path, { reference: 'atr', toleranceS: 0.15 });
  const hrv = hrvWindows(reference.beats, analysis.beatTimesS, analysis.durationS);
  const refTimes = reference.beats.map((b) => b.timeS);
  return { score, analysis, hrv, quality: qualityAgreement(analysis.windows, refTimes) };
}

const pct = (v: number) => `${(100 * v).toFixed(2)} %`;

/**
 * The detector as EC57 scores it on the 25 shared MIT-BIH records (and each half), the noise
 * stress records, HR/RMSSD against the reference per 5 minutes, and what the quality stage passes.
 */
export async function runPeaksBench(
  options: { log?: (line: string) => void } = {},
): Promise<PeaksBenchResult> {
  const log = options.log;
  const data = sharedDataDir();
  const mitdb: Scored[] = [];
  for (const r of SHARED_MITDB) mitdb.push(await scoreShared(join(data, 'mitdb', r)));
  const noise: Scored[] = [];
  for (const r of NOISE_STRESS) noise.push(await scoreShared(join(data, 'nstdb', r)));
  const all = summarizeScores(mitdb.map((s) => s.score));
  const half = (names: string[]) => {
    const g = summarizeScores(all.records.filter((r) => names.includes(r.record))).gross;
    return { sensitivity: g.sensitivity, ppv: g.ppv };
  };
  const hrv = hrvAgreement(mitdb.flatMap((s) => s.hrv));
  const q = [...mitdb, ...noise].reduce(
    (a, s) => ({
      usable: a.usable + s.quality.usable,
      usableHrWithin5Bpm: a.usableHrWithin5Bpm + s.quality.usableHrWithin5Bpm,
      unusable: a.unusable + s.quality.unusable,
    }),
    { usable: 0, usableHrWithin5Bpm: 0, unusable: 0 },
  );
  const result: PeaksBenchResult = {
    all,
    tuning: half(TUNING_RECORDS),
    heldOut: half(HELD_OUT_RECORDS),
    noiseStress: noise.map((s) => s.score),
    maxDecisionDelayS: Math.max(...[...mitdb, ...noise].map((s) => s.analysis.maxDecisionDelayS)),
    hrv,
    quality: {
      ...q,
      usableHrWithin5BpmShare: q.usable ? q.usableHrWithin5Bpm / q.usable : Number.NaN,
      unusableShare: q.unusable / (q.usable + q.unusable),
    },
  };
  if (log) {
    log('R peaks on the 25 shared MIT-BIH records (first channel, whole record, 150 ms, EC57 classes):');
    log(formatEc57Table(all));
    log(
      `tuning half  (${TUNING_RECORDS.join(' ')}): Se ${pct(result.tuning.sensitivity)}, +P ${pct(result.tuning.ppv)}`,
    );
    log(
      `held-out half (${HELD_OUT_RECORDS.join(' ')}): Se ${pct(result.heldOut.sensitivity)}, +P ${pct(result.heldOut.ppv)}`,
    );
    for (const a of ANCHORS)
      log(`anchor, whole database: ${a.name}: Se ${pct(a.sensitivity)}, +P ${pct(a.ppv)}`);
    for (const s of result.noiseStress)
      log(`noise stress ${s.record}: Se ${pct(s.sensitivity)}, +P ${pct(s.ppv)}`);
    log(`longest decision delay ${(result.maxDecisionDelayS * 1000).toFixed(0)} ms`);
    log(`5-min windows (${hrv.windows}): HR within 1 bpm of the reference in ${pct(hrv.hrWithin1Bpm)}`);
    log(
      `  RMSSD within 10 % (${hrv.rmssdWindows} windows with reference N-N intervals): detector's NN vs ` +
        `reference N-N ${pct(hrv.rmssdWithin10Percent)}; the NN rule on the reference beats vs reference ` +
        `N-N ${pct(hrv.ruleWithin10Percent)}; detector's NN vs the NN rule on the reference beats ` +
        `${pct(hrv.detectorWithin10PercentOfRule)}`,
    );
    log(
      `quality (MIT-BIH + 118e24/e12): ${result.quality.usable} good/acceptable windows, HR within 5 bpm in ` +
        `${pct(result.quality.usableHrWithin5BpmShare)}; unusable ${pct(result.quality.unusableShare)}`,
    );
  }
  return result;
}
