import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import { buildModel } from '../src/model/graph/build-model.js';
import { headInitializers } from '../src/model/graph/ecgfm-graph.js';
import {
  decodeModel,
  encodeModel,
  replaceInitializers,
  setOutputDims,
} from '../src/model/graph/onnx-edit.js';
import { gateKindOf, setGateKind } from '../src/model/graph/gate-graph.js';
import { loadModelPackage } from '../src/model/package/model-package.js';
import { assertNoStraddle, overlapSafeGroups } from '../src/model/train/window-groups.js';
import { embedWindows } from '../src/model/train/embed.js';
import { gaussian } from '../src/model/rng.js';
import { type Example, headShapeOf, NmoeHead } from '../src/model/train/nmoe-head.js';
import {
  balancedClassWeights,
  crossValidate,
  DEFAULT_TRAIN,
  evaluate,
  groupedFolds,
  metricsOf,
  trainHead,
} from '../src/model/train/train-head.js';

const shape = { layers: 3, dim: 6, hidden: 5, classes: 3 };

/** Examples whose class shows in one layer only (the gate has to find it), plus noise. */
function synthetic(n: number, seed: number, signalLayer = 1): Example[] {
  const rand = gaussian(seed);
  return Array.from({ length: n }, (_, i) => {
    const target = i % shape.classes;
    const e = new Float32Array(shape.layers * shape.dim).map(() => rand());
    e[signalLayer * shape.dim + target] += 2.5;
    return { embeddings: e, target };
  });
}

for (const gate of ['static', 'input'] as const)
  t.test(`${gate} gate: gradients of every parameter match central finite differences`, async (t) => {
    const head = new NmoeHead({ ...shape, gate }, 7);
    // Move off the initial point so the gate gradient is not trivially symmetric.
    const jitter = gaussian(3);
    head.params.forEach((v, i) => (head.params[i] = v + 0.3 * jitter()));
    const batch = synthetic(6, 11);
    const weights = Float64Array.of(1, 2, 0.5);
    const grad = new Float64Array(head.params.length);
    head.lossAndGrad(batch, weights, grad);
    const scratch = new Float64Array(head.params.length);
    const h = 1e-6;
    let worst = 0;
    for (let k = 0; k < head.params.length; k++) {
      const v = head.params[k];
      head.params[k] = v + h;
      const up = head.lossAndGrad(batch, weights, scratch);
      head.params[k] = v - h;
      const down = head.lossAndGrad(batch, weights, scratch);
      head.params[k] = v;
      const numeric = (up - down) / (2 * h);
      worst = Math.max(worst, Math.abs(numeric - grad[k]) / Math.max(1e-3, Math.abs(numeric)));
    }
    t.ok(worst < 1e-5, `largest relative gradient error ${worst.toExponential(2)}`);
    t.ok(
      grad.subarray(0, shape.layers).some((g) => Math.abs(g) > 1e-6),
      'the gate receives a gradient',
    );
    if (gate === 'input') {
      const proj = head.views(grad).gateProj;
      t.equal(proj.length, shape.dim);
      t.ok(
        proj.some((g) => Math.abs(g) > 1e-6),
        'the gate projection receives a gradient',
      );
    }
  });

t.test('Adam training learns a class signal hidden in one layer and moves the gate to it', async (t) => {
  const head = trainHead(synthetic(300, 1), shape, { ...DEFAULT_TRAIN, epochs: 30, learningRate: 0.01 });
  const m = evaluate(head, synthetic(150, 2));
  t.ok(m.accuracy > 0.8, `held-out accuracy ${m.accuracy}`);
  const g = head.gateWeights();
  t.ok(g[1] > g[0] && g[1] > g[2], `gate ${Array.from(g)}`);
});

t.test(
  'the input gate learns a layer choice that depends on the window; the static gate cannot',
  async (t) => {
    // Half the windows carry the class in layer 0 and a wrong class in layer 2, the other half the
    // reverse; dimension 5 marks the layer telling the truth. A fixed mix of the layers reads both
    // answers at once: only a gate computed from the window can follow the marker.
    const rand = gaussian(4);
    const routed = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const target = i % shape.classes;
        const [truth, decoy] = (i >> 1) % 2 === 0 ? [0, 2] : [2, 0];
        const e = new Float32Array(shape.layers * shape.dim).map(() => 0.5 * rand());
        e[truth * shape.dim + target] += 3;
        e[decoy * shape.dim + ((target + 1 + (i % 2)) % shape.classes)] += 3;
        e[truth * shape.dim + 5] += 2;
        e[decoy * shape.dim + 5] -= 2;
        return { embeddings: e, target };
      });
    const options = { ...DEFAULT_TRAIN, epochs: 40, learningRate: 0.02 };
    const test = routed(300);
    const accuracy = (gate: 'static' | 'input') =>
      evaluate(trainHead(routed(600), { ...shape, gate }, options), test).accuracy;
    const [st, inp] = [accuracy('static'), accuracy('input')];
    t.ok(inp > st + 0.05, `held-out accuracy: input gate ${inp.toFixed(3)}, static ${st.toFixed(3)}`);
  },
);

t.test('same seed, same bytes; another seed, other bytes', async (t) => {
  const data = synthetic(64, 5);
  const a = trainHead(data, shape, { ...DEFAULT_TRAIN, epochs: 3 });
  const b = trainHead(data, shape, { ...DEFAULT_TRAIN, epochs: 3 });
  const c = trainHead(data, shape, { ...DEFAULT_TRAIN, epochs: 3, seed: 2 });
  t.same(Buffer.from(a.params.buffer), Buffer.from(b.params.buffer));
  t.same(Buffer.from(a.runningVar.buffer), Buffer.from(b.runningVar.buffer));
  t.notSame(Buffer.from(a.params.buffer), Buffer.from(c.params.buffer));
});

t.test('grouped folds keep each group whole and spread every class', async (t) => {
  const groups: string[] = [];
  const targets: number[] = [];
  for (let g = 0; g < 14; g++) {
    for (let w = 0; w < 20 + g; w++) {
      groups.push(`seg${g}`);
      targets.push(g % 3);
    }
  }
  const folds = groupedFolds(groups, targets, 5, 1);
  const foldOfGroup = new Map<string, Set<number>>();
  groups.forEach((g, i) => foldOfGroup.set(g, (foldOfGroup.get(g) ?? new Set()).add(folds[i])));
  t.ok(
    [...foldOfGroup.values()].every((s) => s.size === 1),
    'no group in two folds',
  );
  t.same([...new Set(folds)].sort(), [0, 1, 2, 3, 4]);
  // 14 groups over 5 folds, dealt per class: 4 or 5 groups of a class land in 4 or 5 folds.
  for (let c = 0; c < 3; c++) {
    const seen = new Set(folds.filter((_, i) => targets[i] === c));
    t.ok(seen.size >= 4, `class ${c} in ${seen.size} folds`);
  }
});

t.test('cross-validation reports per-fold accuracy and macro-F1 on unseen groups', async (t) => {
  const data = synthetic(200, 9);
  const groups = data.map((_, i) => `g${i % 10}`);
  const foldOf = groupedFolds(
    groups,
    data.map((e) => e.target),
    5,
    1,
  );
  const cv = crossValidate(data, foldOf, groups, shape, 5, {
    ...DEFAULT_TRAIN,
    epochs: 30,
    learningRate: 0.01,
  });
  t.equal(cv.folds.length, 5);
  for (const f of cv.folds) {
    t.equal(f.trainExamples + f.testExamples, 200);
    t.ok(f.accuracy > 0.6, `fold ${f.fold} accuracy ${f.accuracy}`);
  }
  t.equal(
    cv.pooled.confusion.flat().reduce((a, b) => a + b, 0),
    200,
  );
  // The bar beside each fold: the training folds' most frequent class, scored on the test fold.
  for (const f of cv.folds) {
    const counts = [0, 0, 0];
    f.confusion.forEach((row, truth) => (counts[truth] = row.reduce((a, b) => a + b, 0)));
    t.ok(
      counts.some((n) => Math.abs(n / f.testExamples - f.majorityAccuracy) < 1e-12),
      `fold ${f.fold}: majority baseline ${f.majorityAccuracy} is one class's share of the test fold`,
    );
    t.ok(f.accuracy > f.majorityAccuracy, 'a separable problem beats it');
  }
  const sd = Math.sqrt(cv.folds.reduce((a, f) => a + (f.accuracy - cv.meanAccuracy) ** 2, 0) / 4);
  t.ok(Math.abs(cv.accuracySpread - sd) < 1e-12, "the spread is the folds' standard deviation");
});

t.test('metrics: accuracy and macro-F1 from a confusion matrix; balanced weights', async (t) => {
  const m = metricsOf([
    [8, 2],
    [1, 9],
  ]);
  t.equal(m.accuracy, 17 / 20);
  t.ok(Math.abs(m.macroF1 - ((2 * 8) / 19 + (2 * 9) / 21) / 2) < 1e-12);
  const w = balancedClassWeights(
    [0, 0, 0, 1].map((target) => ({ embeddings: new Float32Array(1), target })),
    3,
  );
  t.same(Array.from(w), [4 / 9, 4 / 3, 0]);
});

t.test('windows that share samples never land in two folds', async (t) => {
  // Two labelled segments of one record overlap (50-70 s and 60-90 s): their 10 s windows share
  // samples across the segments, so the two segments must count as one group.
  const spans = [50, 52.5, 55, 57.5, 60, 62.5, 65, 67.5, 70, 72.5, 75, 77.5, 80].map((startS) => ({
    record: 'r1',
    startS,
  }));
  const bySegment = spans.map((s) => (s.startS < 60 ? 'r1/a' : 'r1/b'));
  t.throws(
    () =>
      assertNoStraddle(
        spans,
        bySegment.map((g) => (g === 'r1/a' ? 0 : 1)),
        10,
      ),
    /overlapping windows in folds 0 and 1: r1 5\d\.\d\d s and r1 6\d\.\d\d s/,
    'segment groups alone would let neighbours straddle',
  );
  const merged = overlapSafeGroups(spans, bySegment, 10);
  t.same(new Set(merged), new Set(['r1/a']));
  // A second record far away stays its own group; windows 10 s apart in one record do not overlap.
  const apart = [
    { record: 'r1', startS: 0 },
    { record: 'r1', startS: 10 },
    { record: 'r2', startS: 0 },
  ];
  t.same(overlapSafeGroups(apart, ['a', 'b', 'c'], 10), ['a', 'b', 'c']);
  t.doesNotThrow(() => assertNoStraddle(apart, [0, 1, 2], 10));
});

for (const gate of ['static', 'input'] as const)
  t.test(
    `${gate} gate: a trained head written into the ONNX graph gives the trainer's own predictions`,
    async (t) => {
      const arch = JSON.parse(
        await readFile(join(PROJECT_ROOT, 'test', 'fixtures', 'model', 'ecgfm-small.json'), 'utf8'),
      ).arch;
      const dir = await mkdtemp(join(tmpdir(), 'ecg-train-'));
      await buildModel({ arch, seed: 2, out: dir, name: 'tiny', builtBy: 'test' });
      const pkg = await loadModelPackage(dir);
      const noise = gaussian(8);
      const windows = Array.from({ length: 24 }, (_, i) =>
        new Float32Array(arch.inputSamples).map((_, k) => Math.sin(k / (10 + i)) + 0.2 * noise()),
      );
      const embeddings = await embedWindows(pkg, windows);
      const examples = embeddings.map((e, i) => ({ embeddings: e, target: i % 2 }));
      const head = trainHead(examples, headShapeOf(arch, 2, gate), { ...DEFAULT_TRAIN, epochs: 5 });
      const model = decodeModel(pkg.onnx);
      setGateKind(model, gate, arch);
      t.equal(gateKindOf(model), gate);
      replaceInitializers(model, headInitializers(head.toTensors()));
      setOutputDims(model, 'probabilities', [1, 2]);
      const session = await ort.InferenceSession.create(encodeModel(model));
      let worst = 0;
      for (let i = 0; i < 4; i++) {
        const r = await session.run({
          ecg: new ort.Tensor('float32', windows[i], [1, 1, arch.inputSamples]),
        });
        const onnx = r.probabilities.data as Float32Array;
        const ts = head.predict(embeddings[i]);
        const g = head.gateFor(embeddings[i]);
        (r.gate_weights.data as Float32Array).forEach(
          (v, l) => (worst = Math.max(worst, Math.abs(v - g[l]))),
        );
        t.equal(onnx.length, 2);
        for (let c = 0; c < 2; c++) worst = Math.max(worst, Math.abs(onnx[c] - ts[c]));
      }
      t.ok(worst < 1e-5, `largest difference ${worst}`);
      // And back: the static graph again, byte for byte.
      setGateKind(model, 'static', arch);
      replaceInitializers(model, headInitializers(new NmoeHead(headShapeOf(arch, 2), 1).toTensors()));
      const plain = decodeModel(pkg.onnx);
      setOutputDims(plain, 'probabilities', [1, 2]);
      replaceInitializers(plain, headInitializers(new NmoeHead(headShapeOf(arch, 2), 1).toTensors()));
      t.same(
        Buffer.from(encodeModel(model)),
        Buffer.from(encodeModel(plain)),
        'static again: the same graph',
      );
    },
  );
