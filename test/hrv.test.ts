import t from 'tap';
import { analyzeRecord } from '../src/analysis/analyze-record.js';
import { scoringReference } from '../src/analysis/ec57.js';
import { hrvAgreement, hrvWindows } from '../src/analysis/hrv-check.js';
import { readAnnotations } from '../src/records/wfdb-annotations.js';
import { runPeaksBench } from '../src/bench/peaks.js';
import { rec } from './fixtures/helpers.js';

t.test(
  'MIT-BIH 119 (ventricular bigeminy and trigeminy): NN RMSSD follows the reference N-N RMSSD',
  async (t) => {
    const path = rec('mitdb', '119');
    const ref = scoringReference(await readAnnotations(path, 'atr'), 360);
    const analysis = await analyzeRecord(path);
    const windows = hrvWindows(ref.beats, analysis.beatTimesS, analysis.durationS);
    t.equal(windows.length, 6, 'six 5-minute windows');
    const a = hrvAgreement(windows);
    t.equal(a.hrWithin1Bpm, 1, 'detector HR within 1 bpm of the reference in every window');
    t.ok(
      a.rmssdWithin10Percent >= 5 / 6,
      `RMSSD within 10 % in ${(100 * a.rmssdWithin10Percent).toFixed(0)} %`,
    );
    // Over every RR interval, 444 ventricular beats would put RMSSD in the hundreds of ms.
    for (const w of windows)
      t.ok(w.detectedRmssdMs < 60, `${w.startS} s: RMSSD ${w.detectedRmssdMs.toFixed(1)} ms`);
  },
);

t.test(
  'MIT-BIH 200 and 221 (many ventricular beats; 221 in atrial fibrillation): HR within 1 bpm, NN RMSSD as on perfect beats',
  async (t) => {
    for (const name of ['200', '221']) {
      const path = rec('mitdb', name);
      const ref = scoringReference(await readAnnotations(path, 'atr'), 360);
      const analysis = await analyzeRecord(path);
      const windows = hrvWindows(ref.beats, analysis.beatTimesS, analysis.durationS);
      const a = hrvAgreement(windows);
      t.equal(a.hrWithin1Bpm, 1, `${name}: detector HR within 1 bpm of the reference in every window`);
      // Against the annotators' N-N these records cannot agree (README: the rule, not the beats,
      // differs); against the same rule on the reference beats, the detector's beats must.
      t.ok(
        a.detectorWithin10PercentOfRule >= 5 / 6,
        `${name}: RMSSD within 10 % of the rule on reference beats in ${(100 * a.detectorWithin10PercentOfRule).toFixed(0)} %`,
      );
    }
  },
);

t.test(
  'bench peaks: the 25 shared MIT-BIH records as issue 15 asks (gross >= 99.7 %, every record >= 98 %), noise stress',
  async (t) => {
    const r = await runPeaksBench();
    t.equal(r.all.records.length, 25);
    t.equal(r.all.gross.tp + r.all.gross.fn, 56866, 'every reference beat of the 25 records scored');
    t.ok(r.all.gross.sensitivity >= 0.997, `gross Se ${(100 * r.all.gross.sensitivity).toFixed(2)} %`);
    t.ok(r.all.gross.ppv >= 0.997, `gross +P ${(100 * r.all.gross.ppv).toFixed(2)} %`);
    for (const s of r.all.records) t.ok(s.sensitivity >= 0.98 && s.ppv >= 0.98, `${s.record} both >= 98 %`);
    const e24 = r.noiseStress.find((s) => s.record === '118e24');
    const e12 = r.noiseStress.find((s) => s.record === '118e12');
    t.ok(e24 && e24.sensitivity >= 0.995 && e24.ppv >= 0.995, '118e24 both >= 99.5 %');
    t.ok(e12 && e12.sensitivity >= 0.97 && e12.ppv >= 0.97, '118e12 both >= 97 %');
    t.ok(r.maxDecisionDelayS <= 0.5, `every beat decided within 0.5 s (${r.maxDecisionDelayS} s)`);
    t.ok(r.quality.usable > 30000 && r.quality.unusableShare < 0.1, 'most windows usable');
    t.ok(
      r.quality.usableHrWithin5BpmShare >= 0.98,
      `good/acceptable windows with HR within 5 bpm: ${(100 * r.quality.usableHrWithin5BpmShare).toFixed(2)} %`,
    );
    t.ok(
      r.hrv.hrWithin1Bpm >= 0.98,
      `5-min windows with detector HR within 1 bpm of the reference: ${(100 * r.hrv.hrWithin1Bpm).toFixed(2)} %`,
    );
    // Short of the 90 %, which perfect beats through any rule here miss too (README).
    t.ok(
      r.hrv.rmssdWithin10Percent >= 0.5,
      `RMSSD within 10 % of the annotators' N-N in ${(100 * r.hrv.rmssdWithin10Percent).toFixed(1)} % (41.8 % with a 20 % band)`,
    );
    // Measured 2026-12-03: 83.7 %. The detector's beats give the RMSSD that perfect beats give
    // through the same NN rule (the rule itself is what differs from the annotators' N-N: README).
    // The beat-by-beat rule agrees better with the annotators (52.5 % against 41.8 %) and is less
    // forgiving of a beat placed differently (87.9 % with the symmetric 20 % band).
    t.ok(
      r.hrv.detectorWithin10PercentOfRule >= 0.8,
      `RMSSD within 10 % of the NN rule on reference beats in ${(100 * r.hrv.detectorWithin10PercentOfRule).toFixed(1)} %`,
    );
  },
);
