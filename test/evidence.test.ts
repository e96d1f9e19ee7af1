import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { evidenceOf } from '../src/model/package/evidence.js';
import type { ModelManifest } from '../src/model/package/manifest.js';
import { PROJECT_ROOT } from '../src/paths.js';

const shipped: ModelManifest = JSON.parse(
  await readFile(join(PROJECT_ROOT, 'models', 'driver-stress-drivedb', 'manifest.json'), 'utf8'),
);
const pretrained = { source: 'checkpoint', file: 'ecg-fm.pt', sha256: '0'.repeat(64), headSeed: 1 } as const;
const withCv = (accuracies: number[], majority: number): ModelManifest => ({
  ...shipped,
  weights: pretrained,
  metrics: {
    meanAccuracy: accuracies.reduce((a, b) => a + b, 0) / accuracies.length,
    folds: accuracies.map((accuracy) => ({ accuracy })),
    baselines: { majorityAccuracy: majority },
  },
});

t.test(
  'the shipped model: seeded backbone and CV within one spread of the better baseline, said plainly',
  async (t) => {
    const e = evidenceOf(shipped);
    t.equal(e.none, true);
    t.match(
      e.text,
      /^its backbone is seeded \(random\), not pretrained, and grouped-CV accuracy \d+\.\d % ± \d+\.\d % over 5 folds/,
    );
    t.match(e.text, /this model shows no evidence of recognising anything$/);
    t.same(e.trainedOn, ['drive05'], 'from its manifest, for the report');
  },
);

t.test('a pretrained backbone clear of both baselines by more than the spread shows evidence', async (t) => {
  const e = evidenceOf(withCv([0.8, 0.82, 0.78, 0.81, 0.79], 0.45));
  t.equal(e.none, false);
  t.match(
    e.text,
    /grouped-CV accuracy 80\.0 % ± 1\.6 % .* 45\.0 % for always answering the most frequent class and 33\.3 % for guessing: above both baselines/,
  );
});

t.test('within one spread of the majority baseline is no evidence, pretrained or not', async (t) => {
  t.equal(evidenceOf(withCv([0.6, 0.3, 0.5, 0.4, 0.45], 0.44)).none, true);
  t.equal(evidenceOf(withCv([0.5, 0.5, 0.5, 0.5, 0.5], 0.5)).none, true, 'equal to the baseline');
});

t.test('never measured: an untrained build and an import say so differently', async (t) => {
  t.match(
    evidenceOf({ ...shipped, metrics: null }).text,
    /never trained or measured: this model shows no evidence/,
  );
  const imported = evidenceOf({
    ...shipped,
    metrics: null,
    weights: { source: 'onnx', file: 'oem.onnx', sha256: '0'.repeat(64) },
  });
  t.equal(imported.none, true);
  t.match(imported.text, /^imported without figures: .*model eval on labelled drives/);
});
