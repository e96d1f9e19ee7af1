import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/analysis/data-dir.js';
import type { EcgFmArch } from '../src/model/build/arch.js';
import { buildModel } from '../src/model/build/build-model.js';
import { loadModelPackage } from '../src/model/package/model-package.js';
import { InferenceEngine, runnableOf } from '../src/model/runtime/engine.js';

const arch: EcgFmArch = JSON.parse(
  await readFile(join(PROJECT_ROOT, 'test', 'fixtures', 'model', 'ecgfm-small.json'), 'utf8'),
).arch;

t.test('engine: tensorrt and cuda skipped with their reasons, runs on CPU in a worker', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-model-'));
  await buildModel({ arch, seed: 3, out: dir, name: 'tiny', builtBy: 'test' });
  const pkg = await loadModelPackage(dir);
  const engine = await InferenceEngine.start(runnableOf(pkg), {
    providers: ['tensorrt', 'cuda', 'cpu'],
    threads: 1,
  });
  t.teardown(() => engine.close());
  t.equal(engine.provider, 'cpu');
  t.same(
    engine.skipped.map((s) => s.provider),
    ['tensorrt', 'cuda'],
  );
  t.ok(
    engine.skipped.every((s) => s.reason.length > 10),
    JSON.stringify(engine.skipped),
  );
  const window = new Float32Array(arch.inputSamples).map((_, i) => Math.sin(i / 30));
  const r = await engine.infer(window);
  t.equal(r.probabilities.length, 5);
  t.ok(Math.abs(r.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  t.ok(r.inferenceNs > 0 && r.roundTripNs >= r.inferenceNs);
  await t.rejects(Promise.all([engine.infer(window), engine.infer(window)]), /already in flight/);
});

t.test('a package whose model.onnx changed is refused with the file named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ecg-model-'));
  await buildModel({ arch, seed: 3, out: dir, name: 'tiny', builtBy: 'test' });
  const onnx = await readFile(join(dir, 'model.onnx'));
  onnx[onnx.length - 5] ^= 0xff;
  await writeFile(join(dir, 'model.onnx'), onnx);
  await t.rejects(loadModelPackage(dir), {
    name: 'ModelError',
    message: /model\.onnx: sha256 [0-9a-f]{64} does not match the manifest's/,
  });
  await writeFile(join(dir, 'manifest.json'), '{"schemaVersion": 1}');
  await t.rejects(loadModelPackage(dir), {
    message: /manifest\.json: \(top level\): must have required property 'name'/,
  });
});
