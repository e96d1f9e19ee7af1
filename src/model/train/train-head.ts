import { spreadOf } from '../package/evidence.js';
import { shuffle, uniform } from '../rng.js';
import { type Example, type HeadShape, NmoeHead } from './nmoe-head.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  dropout: number;
  seed: number;
}

/** The method's defaults: Adam, 10 epochs. */
export const DEFAULT_TRAIN: TrainOptions = {
  epochs: 10,
  batchSize: 32,
  learningRate: 1e-3,
  dropout: 0.2,
  seed: 1,
};

/** Inverse class frequency ("balanced"): N / (classes × count); a class absent from the set weighs 0. */
export function balancedClassWeights(examples: Example[], classes: number): Float64Array {
  const counts = new Float64Array(classes);
  for (const e of examples) counts[e.target]++;
  return counts.map((c) => (c > 0 ? examples.length / (classes * c) : 0));
}

/** Trains the gate and head with Adam on the frozen backbone's embeddings. Same seed, same bytes. */
export function trainHead(
  examples: Example[],
  shape: HeadShape,
  options: TrainOptions,
  onEpoch?: (epoch: number, meanLoss: number) => void,
): NmoeHead {
  const head = new NmoeHead(shape, options.seed);
  const classWeights = balancedClassWeights(examples, shape.classes);
  const rand = uniform(options.seed ^ 0x9e3779b9);
  const grad = new Float64Array(head.params.length);
  const m = new Float64Array(head.params.length);
  const v = new Float64Array(head.params.length);
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  let step = 0;
  const order = examples.map((_, i) => i);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    shuffle(order, rand);
    let lossSum = 0;
    let batches = 0;
    for (let start = 0; start < order.length; start += options.batchSize) {
      const idx = order.slice(start, start + options.batchSize);
      if (idx.length < 2) continue; // BatchNorm needs two or more
      const loss = head.lossAndGrad(
        idx.map((i) => examples[i]),
        classWeights,
        grad,
        options.dropout,
        rand,
        true,
      );
      lossSum += loss;
      batches++;
      step++;
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      const p = head.params;
      for (let k = 0; k < p.length; k++) {
        m[k] = beta1 * m[k] + (1 - beta1) * grad[k];
        v[k] = beta2 * v[k] + (1 - beta2) * grad[k] * grad[k];
        p[k] -= (options.learningRate * (m[k] / c1)) / (Math.sqrt(v[k] / c2) + eps);
      }
    }
    onEpoch?.(epoch, lossSum / Math.max(1, batches));
  }
  return head;
}

export interface ClassMetrics {
  accuracy: number;
  macroF1: number;
  /** confusion[true][predicted] */
  confusion: number[][];
}

export function evaluate(head: NmoeHead, examples: Example[]): ClassMetrics {
  const C = head.shape.classes;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  for (const e of examples) {
    const p = head.predict(e.embeddings);
    let best = 0;
    for (let c = 1; c < C; c++) if (p[c] > p[best]) best = c;
    confusion[e.target][best]++;
  }
  return metricsOf(confusion);
}

export function metricsOf(confusion: number[][]): ClassMetrics {
  const C = confusion.length;
  let correct = 0;
  let total = 0;
  let f1Sum = 0;
  let present = 0;
  for (let c = 0; c < C; c++) {
    const tp = confusion[c][c];
    const actual = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, row) => a + row[c], 0);
    correct += tp;
    total += actual;
    if (actual === 0) continue; // macro-F1 over the classes present in the test set
    present++;
    f1Sum += actual + predicted === 0 ? 0 : (2 * tp) / (actual + predicted);
  }
  return { accuracy: total ? correct / total : 0, macroF1: present ? f1Sum / present : 0, confusion };
}

/**
 * Grouped, class-stratified k folds: every group (a recording, subject or labelled segment) goes
 * whole into one fold, so overlapping windows of one group never straddle train and test. Groups of
 * each class are dealt round-robin (seeded order) so every fold sees every class where possible.
 */
export function groupedFolds(groups: string[], targets: number[], k: number, seed: number): number[] {
  const groupClass = new Map<string, number>();
  groups.forEach((g, i) => {
    if (!groupClass.has(g)) groupClass.set(g, targets[i]);
  });
  const rand = uniform(seed);
  const foldOf = new Map<string, number>();
  let next = 0;
  const classes = [...new Set(groupClass.values())].sort((a, b) => a - b);
  for (const c of classes) {
    const members = [...groupClass.keys()].filter((g) => groupClass.get(g) === c).sort();
    for (const g of shuffle(members, rand)) foldOf.set(g, next++ % k);
  }
  return groups.map((g) => foldOf.get(g)!);
}

export interface FoldReport extends ClassMetrics {
  fold: number;
  /** Accuracy of always answering the training folds' most frequent class: the bar to clear. */
  majorityAccuracy: number;
  trainExamples: number;
  testExamples: number;
  testGroups: string[];
}

export interface CrossValidation {
  folds: FoldReport[];
  /** Over the pooled out-of-fold predictions. */
  pooled: ClassMetrics;
  meanAccuracy: number;
  meanMacroF1: number;
  /** Standard deviation of the folds' accuracies. */
  accuracySpread: number;
  meanMajorityAccuracy: number;
}

/** k-fold cross-validation over a fold assignment (from groupedFolds): fold i tests on foldOf === i. */
export function crossValidate(
  examples: Example[],
  foldOf: number[],
  groups: string[],
  shape: HeadShape,
  k: number,
  options: TrainOptions,
): CrossValidation {
  const C = shape.classes;
  const pooled = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const folds: FoldReport[] = [];
  for (let fold = 0; fold < k; fold++) {
    const train = examples.filter((_, i) => foldOf[i] !== fold);
    const test = examples.filter((_, i) => foldOf[i] === fold);
    if (test.length === 0 || train.length < 2) continue;
    const head = trainHead(train, shape, options);
    const m = evaluate(head, test);
    const counts = new Array<number>(C).fill(0);
    for (const e of train) counts[e.target]++;
    const majority = counts.indexOf(Math.max(...counts));
    m.confusion.forEach((row, t) => row.forEach((n, p) => (pooled[t][p] += n)));
    folds.push({
      fold,
      ...m,
      majorityAccuracy: test.filter((e) => e.target === majority).length / test.length,
      trainExamples: train.length,
      testExamples: test.length,
      testGroups: [...new Set(groups.filter((_, i) => foldOf[i] === fold))],
    });
  }
  const mean = (f: (r: FoldReport) => number) => folds.reduce((a, r) => a + f(r), 0) / folds.length;
  return {
    folds,
    pooled: metricsOf(pooled),
    meanAccuracy: mean((r) => r.accuracy),
    meanMacroF1: mean((r) => r.macroF1),
    accuracySpread: spreadOf(folds.map((r) => r.accuracy)),
    meanMajorityAccuracy: mean((r) => r.majorityAccuracy),
  };
}
