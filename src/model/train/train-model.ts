import { decodeModel, encodeModel, replaceInitializers, setOutputDims } from '../graph/onnx-edit.js';
import { headInitializers } from '../graph/ecgfm-graph.js';
import { builtArch, type ModelManifest } from '../package/manifest.js';
import { loadModelPackage, ModelError, windowSpecOf, writeModelPackage } from '../package/model-package.js';
import { embedWindows } from './embed.js';
import { labelledWindows } from './labelled-windows.js';
import { readSegments, type Segment, segmentsFileOf } from '../../records/segments.js';
import type { Example } from './nmoe-head.js';
import { headShapeOf } from './nmoe-head.js';
import { type CrossValidation, crossValidate, type TrainOptions, trainHead } from './train-head.js';

export interface TrainModelOptions extends TrainOptions {
  /** fp32 package whose backbone stays frozen. */
  modelDir: string;
  /** Records, each with `<record>_segments.csv` beside it unless `labelsFiles` names one. */
  records: string[];
  labelsFiles?: string[];
  labelColumn: string;
  /** Class order; default: the labels in order of first appearance. */
  classes?: string[];
  folds: number;
  out: string;
  threads?: number;
  log?: (line: string) => void;
}

export interface TrainResult {
  manifest: ModelManifest;
  crossValidation: CrossValidation;
}

/**
 * The method's training: frozen backbone, per-layer pooled embeddings computed once, gate + head
 * trained with Adam; grouped k-fold CV for honest metrics, then the final head on all windows.
 */
export async function trainModel(o: TrainModelOptions): Promise<TrainResult> {
  const log = o.log ?? (() => {});
  const pkg = await loadModelPackage(o.modelDir);
  if (pkg.manifest.precision !== 'fp32')
    throw new ModelError(`${o.modelDir}: train on the fp32 package, then quantize`);
  const arch = builtArch(pkg.manifest, 'model train');
  const spec = windowSpecOf(pkg.manifest);
  const windows: { segment: Segment; samples: Float32Array }[] = [];
  for (const [i, record] of o.records.entries()) {
    const file = o.labelsFiles?.[i] ?? segmentsFileOf(record);
    if (!file) throw new ModelError(`${record}: no labels (expected ${record}_segments.csv or --labels)`);
    const segments = await readSegments(record, file, o.labelColumn);
    const got = await labelledWindows(record, segments, spec);
    log(`${record}: ${got.length} usable labelled windows in ${segments.length} segments`);
    windows.push(...got);
  }
  const classes = o.classes ?? [...new Set(windows.map((w) => w.segment.label))];
  const unknown = [...new Set(windows.map((w) => w.segment.label))].filter((l) => !classes.includes(l));
  if (unknown.length) throw new ModelError(`labels not among the classes (${classes}): ${unknown}`);
  if (windows.length < 2 * o.folds) throw new ModelError(`only ${windows.length} labelled windows`);

  const t0 = performance.now();
  const embeddings = await embedWindows(
    pkg,
    windows.map((w) => w.samples),
    o.threads ?? 0,
    (n) => log(`embedded ${n}/${windows.length} windows`),
  );
  log(`embeddings: ${windows.length} windows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const examples: Example[] = windows.map((w, i) => ({
    embeddings: embeddings[i],
    target: classes.indexOf(w.segment.label),
  }));
  const groups = windows.map((w) => `${w.segment.record}/${w.segment.name}`);
  const shape = headShapeOf(arch, classes.length);
  const cv = crossValidate(examples, groups, shape, o.folds, o);
  for (const f of cv.folds) {
    log(
      `fold ${f.fold}: test ${f.testGroups.join(' ')} (${f.testExamples} windows): accuracy ${f.accuracy.toFixed(3)} (most frequent class: ${f.majorityAccuracy.toFixed(3)}), macro-F1 ${f.macroF1.toFixed(3)}`,
    );
  }
  log(
    `cross-validation: mean accuracy ${cv.meanAccuracy.toFixed(3)}, mean macro-F1 ${cv.meanMacroF1.toFixed(3)}`,
  );

  const head = trainHead(examples, shape, o);
  const model = decodeModel(pkg.onnx);
  replaceInitializers(model, headInitializers(head.toTensors()));
  setOutputDims(model, pkg.manifest.outputs.probabilities, [1, classes.length]);
  const m = pkg.manifest;
  const manifest = await writeModelPackage(o.out, encodeModel(model), {
    ...m,
    architecture: { ...m.architecture, classes: classes.length },
    labels: classes,
    training: {
      method: 'NMoE gate + head on the frozen backbone (Adam, class-balanced cross-entropy)',
      records: o.records.map((r) => r.split('/').pop()),
      labelColumn: o.labelColumn,
      windows: windows.length,
      perClass: Object.fromEntries(classes.map((c, i) => [c, examples.filter((e) => e.target === i).length])),
      groups: 'labelled segment (a window never straddles train and test)',
      epochs: o.epochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      dropout: o.dropout,
      seed: o.seed,
      gate: Array.from(head.gateWeights(), (g) => Number(g.toFixed(4))),
    },
    metrics: {
      crossValidation: `${o.folds}-fold grouped`,
      meanAccuracy: cv.meanAccuracy,
      meanMacroF1: cv.meanMacroF1,
      accuracySpread: cv.accuracySpread,
      // What any classifier must beat: the training folds' most frequent class, and a uniform guess.
      baselines: { majorityAccuracy: cv.meanMajorityAccuracy, uniformAccuracy: 1 / classes.length },
      pooledAccuracy: cv.pooled.accuracy,
      pooledMacroF1: cv.pooled.macroF1,
      pooledConfusion: cv.pooled.confusion,
      folds: cv.folds.map((f) => ({
        fold: f.fold,
        testGroups: f.testGroups,
        testWindows: f.testExamples,
        accuracy: f.accuracy,
        macroF1: f.macroF1,
        majorityAccuracy: f.majorityAccuracy,
      })),
    },
    provenance: { ...m.provenance, builtAt: new Date().toISOString() },
  });
  return { manifest, crossValidation: cv };
}
