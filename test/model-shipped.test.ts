import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import t from 'tap';
import { type Agreement, pooled } from '../src/model/quantize/quantize-model.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { builtArch, manifestSchema } from '../src/model/package/manifest.js';
import { loadModelPackage, windowSpecOf } from '../src/model/package/model-package.js';
import { InferenceEngine, runnableOf } from '../src/model/runtime/engine.js';
import { optimizedOpCounts } from '../src/model/runtime/optimized-ops.js';
import { openCheckedSession } from '../src/model/runtime/contract.js';
import { describeInt8Kernels, probeInt8Kernels } from '../src/model/runtime/int8-kernels.js';
import { checkReference, REFERENCE_TOLERANCE, referenceWindows } from '../src/model/package/reference.js';
import { decodeModel } from '../src/model/graph/onnx-edit.js';
import { labelledWindows } from '../src/model/train/labelled-windows.js';
import { readSegments } from '../src/records/segments.js';
import { rec } from './fixtures/helpers.js';

const DIR = join(PROJECT_ROOT, 'models', 'driver-stress-drivedb');

t.test('the shipped demo model: verified, INT8, at most 10 MB, honest grouped-CV metrics', async (t) => {
  const pkg = await loadModelPackage(DIR);
  const m = pkg.manifest;
  t.equal(m.precision, 'int8');
  t.same(m.labels, ['low', 'medium', 'high']);
  const bytes = (await stat(join(DIR, 'model.onnx'))).size;
  t.ok(bytes <= 10 * 1024 * 1024, `${bytes} bytes`);
  const training = m.training as { windows: number; perClass: Record<string, number>; records: string[] };
  t.equal(
    Object.values(training.perClass).reduce((a, b) => a + b, 0),
    training.windows,
  );
  // drive06 stays out: the demo plays an excerpt of it, so the demo shows held-out windows.
  t.same(training.records, ['drive05']);
  const metrics = m.metrics as {
    folds: { testGroups: string[]; testWindows: number; accuracy: number; macroF1: number }[];
    meanAccuracy: number;
    quantization: { top1Agreement: number; heldOut: Agreement & { records: Record<string, Agreement> } };
  };
  t.equal(metrics.folds.length, 5);
  const groups = metrics.folds.flatMap((f) => f.testGroups);
  t.equal(new Set(groups).size, groups.length, 'no segment tested in two folds');
  t.equal(groups.length, 7, 'every drivedb segment of drive05 tested once');
  t.equal(
    metrics.folds.reduce((a, f) => a + f.testWindows, 0),
    training.windows,
  );
  const mean = metrics.folds.reduce((a, f) => a + f.accuracy, 0) / 5;
  t.ok(Math.abs(mean - metrics.meanAccuracy) < 1e-12);
  t.ok(metrics.quantization.top1Agreement >= 0.98, `int8 agreement ${metrics.quantization.top1Agreement}`);
  // Measured on recordings it was not calibrated on too, each named in the manifest.
  const heldOut = metrics.quantization.heldOut;
  t.same(Object.keys(heldOut.records).sort(), ['118e12', '119', '201', 'drive06']);
  t.ok(heldOut.top1 >= 0.99, `int8 agreement on records not calibrated on: ${heldOut.top1}`);
  const { records, ...together } = heldOut;
  t.same(together, pooled(Object.values(records)), 'the overall figure is the records pooled');
  const ops = await optimizedOpCounts(pkg.onnx);
  t.equal(
    ops.QLinearMatMul,
    builtArch(m, 'test').layers * 6,
    'every transformer MatMul runs as QLinearMatMul (post_extract_proj and conv_pos stay fp32, the most sensitive)',
  );
});

t.test(
  'the shipped INT8 model gives what its fp32 model gave, within 0.05, on this machine: pair-safe weights, its reference windows',
  async (t) => {
    const pkg = await loadModelPackage(DIR);
    t.ok(pkg.manifest.reference, 'the package carries reference windows');
    const { session } = await openCheckedSession(pkg, { providers: ['cpu'], threads: 1 });
    const check = (await checkReference(pkg, session))!;
    await session.release();
    t.equal(check.tolerance, REFERENCE_TOLERANCE);
    t.ok(check.windows >= 8, `${check.windows} windows`);
    t.ok(
      check.withinTolerance,
      `largest difference ${check.maxAbsDiff.toFixed(5)} on ${describeInt8Kernels(await probeInt8Kernels())}`,
    );
    t.equal(check.flips, 0, 'the same most probable class on every window');
    // No kernel has anything to clamp: every same-sign weight pair sums to at most 128.
    const model = decodeModel(pkg.onnx);
    let pairs = 0;
    for (const init of model.graph!.initializer!) {
      if (!init.name!.endsWith('.int8')) continue;
      const [rows, cols] = init.dims!.map(Number);
      const q = new Int8Array(init.rawData!.buffer, init.rawData!.byteOffset, init.rawData!.length);
      for (let k = 1; k < rows; k += 2)
        for (let n = 0; n < cols; n++) {
          const a = q[(k - 1) * cols + n];
          const b = q[k * cols + n];
          if (Math.sign(a) === Math.sign(b) && Math.abs(a) + Math.abs(b) > 128) pairs++;
        }
    }
    t.equal(pairs, 0, 'no weight pair a saturating u8s8 kernel would clamp');
    // A corrupted reference file is refused in one line.
    const copy = { ...pkg, dir: t.testdirName };
    await mkdir(copy.dir, { recursive: true });
    const bytes = await readFile(join(DIR, 'reference.npy'));
    bytes[bytes.length - 1] ^= 1;
    await writeFile(join(copy.dir, 'reference.npy'), bytes);
    await t.rejects(referenceWindows(copy), /reference\.npy: sha256 does not match the manifest's/);
  },
);

t.test('models/manifest.schema.json is the schema the loader enforces', async (t) => {
  const file = JSON.parse(await readFile(join(PROJECT_ROOT, 'models', 'manifest.schema.json'), 'utf8'));
  t.same(file, JSON.parse(JSON.stringify(manifestSchema)));
  const manifest = JSON.parse(await readFile(join(DIR, 'manifest.json'), 'utf8'));
  t.ok(new Ajv({ strict: true, allowUnionTypes: true }).validate(file, manifest));
});

t.test('the shipped model classifies real drive06 windows the daemon would feed it', async (t) => {
  const pkg = await loadModelPackage(DIR);
  const record = rec('drivedb', 'drive06');
  const segments = (await readSegments(record, `${record}_segments.csv`, 'stress')).slice(0, 2);
  const windows = (await labelledWindows(record, segments, windowSpecOf(pkg.manifest))).slice(0, 40);
  t.ok(windows.length === 40);
  const engine = await InferenceEngine.start(runnableOf(pkg), { providers: ['cpu'], threads: 1 });
  t.teardown(() => engine.close());
  const seen = new Set<string>();
  for (const w of windows) {
    const r = await engine.infer(w.samples);
    t.equal(r.probabilities.length, 3);
    t.ok(Math.abs(r.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    t.ok(Math.abs(r.gate.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    seen.add(Array.from(r.probabilities, (p) => p.toFixed(3)).join());
  }
  t.ok(seen.size > 10, `the output depends on the window (${seen.size} distinct of 40)`);
});
