import { decodeModel, encodeModel, replaceInitializers, setOutputDims } from '../graph/onnx-edit.js';
import { headInitializers } from '../graph/ecgfm-graph.js';
import { type GateKind, setGateKind } from '../graph/gate-graph.js';
import { builtArch, type ModelManifest } from '../package/manifest.js';
import { loadModelPackage, ModelError, windowSpecOf, writeModelPackage } from '../package/model-package.js';
import { embedWindows } from './embed.js';
import { labelledWindows } from './labelled-windows.js';
import { readSegments, type Segment, segmentsFileOf } from '../../records/segments.js';
import { type Example, headShapeOf, type NmoeHead } from './nmoe-head.js';
import {
  type CrossValidation,
  crossValidate,
  groupedFolds,
  type TrainOptions,
  trainHead,
} from './train-head.js';
import { assertNoStraddle, overlapSafeGroups } from './window-groups.js';

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
  /** What a fold holds whole: a labelled segment (default) or a recording (leave-recordings-out). */
  groupBy?: 'segment' | 'record';
  /** Window overlap in percent; default the package's own hop (75 %, the paper's, for built ones). */
  overlapPercent?: number;
  gate?: GateKind;
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
  const packageSpec = windowSpecOf(pkg.manifest);
  const overlap = o.overlapPercent ?? 100 * (1 - packageSpec.hopSamples / packageSpec.windowSamples);
  if (!(overlap >= 0 && overlap < 100))
    throw new ModelError(`--overlap ${overlap}: expected 0 to under 100 (%)`);
  const hopSamples = Math.max(1, Math.round(packageSpec.windowSamples * (1 - overlap / 100)));
  const spec = { ...packageSpec, hopSamples };
  const gateKind = o.gate ?? 'static';
  const windows: { segment: Segment; startS: number; samples: Float32Array }[] = [];
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
  const lengthS = spec.windowSamples / spec.sampleRateHz;
  const spans = windows.map((w) => ({ record: w.segment.record, startS: w.startS }));
  const groups = overlapSafeGroups(
    spans,
    windows.map((w) => (o.groupBy === 'record' ? w.segment.record : `${w.segment.record}/${w.segment.name}`)),
    lengthS,
  );
  const foldOf = groupedFolds(
    groups,
    examples.map((e) => e.target),
    o.folds,
    o.seed,
  );
  assertNoStraddle(spans, foldOf, lengthS);
  const shape = headShapeOf(arch, classes.length, gateKind);
  const cv = crossValidate(examples, foldOf, groups, shape, o.folds, o);
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
  setGateKind(model, gateKind, arch);
  replaceInitializers(model, headInitializers(head.toTensors()));
  setOutputDims(model, pkg.manifest.outputs.probabilities, [1, classes.length]);
  // A new head answers differently: an fp32 reference of the old one would not hold.
  const { reference: _, ...m } = pkg.manifest;
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
      groups: `${o.groupBy === 'record' ? 'recording' : 'labelled segment'} (checked: no window shares samples with one in another fold)`,
      overlapPercent: overlap,
      gateKind,
      epochs: o.epochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      dropout: o.dropout,
      seed: o.seed,
      // The static gate's weights; for the input gate, its mean over the training windows.
      gate: Array.from(gateKind === 'static' ? head.gateWeights() : meanGate(head, examples), (g) =>
        Number(g.toFixed(4)),
      ),
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

function meanGate(head: NmoeHead, examples: Example[]): Float64Array {
  const mean = new Float64Array(head.shape.layers);
  for (const e of examples) head.gateFor(e.embeddings).forEach((g, l) => (mean[l] += g / examples.length));
  return mean;
}
