import t from 'tap';
import { aamiClassOf, scoreRecord, scoringReference, summarizeScores } from '../src/analysis/ec57.js';
import type { Annotation } from '../src/records/wfdb-annotations.js';

const ann = (sample: number, code: number, symbol: string, aux: string | null = null): Annotation => ({
  sample,
  code,
  symbol,
  subtype: 0,
  channel: 0,
  num: 0,
  aux,
});

t.test('MIT-BIH symbols map to the AAMI classes', async (t) => {
  for (const s of ['N', 'L', 'R', 'e', 'j']) t.equal(aamiClassOf(s), 'N', s);
  for (const s of ['A', 'a', 'J', 'S']) t.equal(aamiClassOf(s), 'S', s);
  for (const s of ['V', 'E']) t.equal(aamiClassOf(s), 'V', s);
  t.equal(aamiClassOf('F'), 'F');
  for (const s of ['/', 'f', 'Q']) t.equal(aamiClassOf(s), 'Q', s);
});

t.test('ventricular flutter is left out: [ to ], (VFL rhythm, ! waves', async (t) => {
  const list = [
    ann(100, 1, 'N'),
    ann(200, 5, 'V'),
    ann(300, 32, '['), // VF on
    ann(350, 31, '!'),
    ann(400, 33, ']'), // VF off
    ann(500, 1, 'N'),
    ann(600, 28, '+', '(VFL'),
    ann(700, 1, 'N'), // inside the (VFL rhythm
    ann(800, 28, '+', '(N'),
    ann(900, 1, 'N'),
  ];
  const ref = scoringReference(list, 100); // 100 Hz: sample = 10 ms
  t.same(ref.excluded, [
    [3, 4],
    [6, 8],
  ]);
  t.equal(ref.beats.length, 5, 'only beat codes are reference beats');
  // Detections at every beat, plus two inside the excluded stretches (flutter waves): not FPs.
  const detected = [1, 2, 3.5, 5, 7, 7.5, 9];
  const s = scoreRecord('x', ref, detected, { toleranceS: 0.15 });
  t.match(s, { tp: 4, fn: 0, fp: 0, excludedS: 3 });
  t.same(s.byClass, { N: { tp: 3, fn: 0 }, V: { tp: 1, fn: 0 } });
  const kept = scoreRecord('x', ref, detected, { toleranceS: 0.15, keepVf: true });
  t.match(kept, { tp: 5, fp: 2, excludedS: 0 }, 'kept with the flag');
});

t.test('matching: the nearer detection wins, misses and extras are counted per class', async (t) => {
  const ref = scoringReference([ann(100, 1, 'N'), ann(200, 5, 'V'), ann(300, 8, 'A')], 100);
  const s = scoreRecord('x', ref, [0.95, 1.01, 3.3], { toleranceS: 0.15 });
  t.match(s, { tp: 1, fn: 2, fp: 2 });
  t.same(s.byClass, { N: { tp: 1, fn: 0 }, V: { tp: 0, fn: 1 }, S: { tp: 0, fn: 1 } });
  const late = scoreRecord('x', ref, [0.95, 1.01, 3.3], { toleranceS: 0.15, fromS: 1.5 });
  t.match(late, { tp: 0, fn: 2, fp: 1 }, 'the learning period is not scored');
  const sum = summarizeScores([s, late]);
  t.match(sum.gross, { tp: 1, fn: 4, fp: 3 });
  t.equal(sum.average.sensitivity, (1 / 3 + 0) / 2);
});
