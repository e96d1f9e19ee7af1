import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import type { EcgFmArch } from '../src/model/graph/arch.js';
import { buildModel } from '../src/model/graph/build-model.js';
import { loadModelPackage } from '../src/model/package/model-package.js';
import { InferenceEngine, runnableOf } from '../src/model/runtime/engine.js';
import { startModel } from '../src/model/runtime/load-model.js';
import { applyTensorRtEnv } from '../src/model/runtime/tensorrt-env.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { Writable } from 'node:stream';

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

t.test(
  'close while an inference is in flight: it finishes, the worker exits, the process lives',
  async (t) => {
    // Terminating the worker under onnxruntime's native run aborted the whole process now and then.
    const dir = await mkdtemp(join(tmpdir(), 'ecg-model-'));
    await buildModel({ arch, seed: 3, out: dir, name: 'tiny', builtBy: 'test' });
    const model = runnableOf(await loadModelPackage(dir));
    const window = new Float32Array(arch.inputSamples).map((_, i) => Math.sin(i / 30));
    for (let k = 0; k < 8; k++) {
      const engine = await InferenceEngine.start(model, { providers: ['cpu'], threads: 1, warmupRuns: 0 });
      const result = engine.infer(window);
      await engine.close();
      const r = await result;
      t.equal(r.probabilities.length, 5, `round ${k}: the inference in flight finished`);
    }
  },
);

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

t.test(
  'the default config (tensorrt, cuda, cpu) says in one info line that the GPU providers are not here (raw errors at debug) and runs on CPU',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecg-model-'));
    await buildModel({ arch, seed: 3, out: dir, name: 'tiny', builtBy: 'test' });
    const config = await loadConfig(undefined, { ECG_EMOTIOND__MODEL__DIR: dir });
    t.same(config.model.providers, ['tensorrt', 'cuda', 'cpu']);
    const lines: { level: number; msg: string; provider?: string; reason?: string; skipped?: string[] }[] =
      [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(
          ...String(chunk)
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l)),
        );
        done();
      },
    });
    const { engine } = await startModel(config.model, createLogger('debug', sink));
    t.teardown(() => engine.close());
    t.equal(engine.provider, 'cpu');
    // Providers this machine lacks: one info line naming them, their raw errors at debug level only.
    t.same(
      lines.filter((l) => l.level >= 40),
      [],
      'no warning for a provider that is not there',
    );
    const info = lines.filter((l) => l.level === 30 && l.skipped);
    t.same(
      info.map((l) => l.skipped),
      [['tensorrt', 'cuda']],
    );
    t.match(info[0].msg, /^inference runs on cpu: .*tensorrt.*cuda.*not available/);
    const raw = lines.filter((l) => l.level === 20 && l.provider);
    t.same(
      raw.map((l) => l.provider),
      ['tensorrt', 'cuda'],
    );
    t.ok(
      raw.every((l) => /shared library/.test(l.reason ?? '')),
      JSON.stringify(raw),
    );
    t.match(lines.at(-1)!.msg, /model tiny 0\.1\.0 \(fp32\) running on cpu/);
  },
);

t.test(
  'TensorRT settings go to the environment the provider reads; an explicit environment wins',
  async (t) => {
    const env: NodeJS.ProcessEnv = { ORT_TENSORRT_FP16_ENABLE: '0' };
    const set = applyTensorRtEnv(
      { fp16: true, engineCacheDir: '/var/cache/x', maxWorkspaceBytes: 1 << 30 },
      env,
    );
    t.same(set, {
      ORT_TENSORRT_FP16_ENABLE: '0',
      ORT_TENSORRT_MAX_WORKSPACE_SIZE: String(1 << 30),
      ORT_TENSORRT_ENGINE_CACHE_ENABLE: '1',
      ORT_TENSORRT_CACHE_PATH: '/var/cache/x',
    });
  },
);
