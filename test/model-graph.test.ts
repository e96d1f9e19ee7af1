import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import t from 'tap';
import { PROJECT_ROOT } from '../src/paths.js';
import {
  type EcgFmArch,
  ECGFM_FULL,
  encoderShapes,
  framesOf,
  parameterCount,
} from '../src/model/graph/arch.js';
import { buildEcgFmGraph, IO } from '../src/model/graph/ecgfm-graph.js';
import { readSafetensors } from '../src/model/graph/safetensors.js';
import type { TensorMap } from '../src/model/graph/tensor.js';
import { readTorchCheckpoint } from '../src/model/graph/torch-checkpoint.js';
import { WeightError } from '../src/model/graph/weight-error.js';
import { canonicalEncoderWeights, headWeights, seededWeights } from '../src/model/graph/weights.js';

// Golden fixtures written by scripts/ecgfm_reference.py (an independent PyTorch implementation).
const FIX = join(PROJECT_ROOT, 'test', 'fixtures', 'model');
const arch: EcgFmArch = JSON.parse(readFileSync(join(FIX, 'ecgfm-small.json'), 'utf8')).arch;
const N = arch.inputSamples;

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return a.length === b.length ? m : Number.POSITIVE_INFINITY;
};

async function run(bytes: Uint8Array, input: Float32Array, leads: number) {
  const session = await ort.InferenceSession.create(bytes);
  return session.run({ [IO.input]: new ort.Tensor('float32', input, [1, leads, input.length / leads]) });
}

async function fixtureWeights(): Promise<{ weights: TensorMap; golden: TensorMap }> {
  const raw = await readSafetensors(join(FIX, 'ecgfm-small.safetensors'));
  const golden = new Map([...raw].filter(([k]) => k.startsWith('golden.')));
  const ckpt = new Map([...raw].filter(([k]) => !k.startsWith('golden.')));
  const weights = new Map([
    ...canonicalEncoderWeights(ckpt, arch, 'fixture'),
    ...headWeights(ckpt, arch, 'fixture'),
  ]);
  return { weights, golden };
}

t.test(
  'ONNX graph matches the PyTorch reference within 1e-4: every layer, gate, probabilities',
  async (t) => {
    const { weights, golden } = await fixtureWeights();
    const bytes = buildEcgFmGraph(arch, weights, {
      inputLeads: 1,
      leadSlot: 0,
      samples: N,
      exposeLayerOutputs: true,
    });
    const out = await run(bytes, golden.get('golden.input')!.data, 1);
    const frames = framesOf(arch, N);
    const layers = golden.get('golden.layer_outputs')!;
    t.same(layers.shape, [arch.layers, frames, arch.dim]);
    for (let l = 0; l < arch.layers; l++) {
      const got = out[`layer_output_${l}`].data as Float32Array;
      const want = layers.data.subarray(l * frames * arch.dim, (l + 1) * frames * arch.dim);
      t.ok(maxDiff(got, want) < 1e-4, `layer ${l}: max |diff| ${maxDiff(got, want).toExponential(2)}`);
    }
    const pairs: [string, string][] = [
      [IO.layerEmbeddings, 'golden.pooled'],
      [IO.gate, 'golden.gate'],
      [IO.probabilities, 'golden.probabilities'],
    ];
    for (const [output, key] of pairs) {
      const d = maxDiff(out[output].data as Float32Array, golden.get(key)!.data);
      t.ok(d < 1e-4, `${output}: max |diff| ${d.toExponential(2)}`);
    }
  },
);

t.test(
  'the sliced single-lead first conv equals the 12-lead input with zeros in the other leads',
  async (t) => {
    const { weights, golden } = await fixtureWeights();
    const lead = golden.get('golden.input')!.data;
    for (const slot of [0, 1, 7]) {
      const single = await run(
        buildEcgFmGraph(arch, weights, { inputLeads: 1, leadSlot: slot, samples: N }),
        lead,
        1,
      );
      const twelve = new Float32Array(arch.inLeads * N);
      twelve.set(lead, slot * N);
      const full = await run(
        buildEcgFmGraph(arch, weights, { inputLeads: arch.inLeads, leadSlot: 0, samples: N }),
        twelve,
        arch.inLeads,
      );
      for (const name of [IO.probabilities, IO.layerEmbeddings]) {
        const d = maxDiff(single[name].data as Float32Array, full[name].data as Float32Array);
        t.ok(d < 1e-5, `slot ${slot}, ${name}: max |diff| ${d.toExponential(2)}`);
      }
    }
    // and the slot matters: lead I's weights are not lead II's
    const a = await run(buildEcgFmGraph(arch, weights, { inputLeads: 1, leadSlot: 0, samples: N }), lead, 1);
    const b = await run(buildEcgFmGraph(arch, weights, { inputLeads: 1, leadSlot: 1, samples: N }), lead, 1);
    t.ok(maxDiff(a[IO.probabilities].data as Float32Array, b[IO.probabilities].data as Float32Array) > 1e-4);
  },
);

t.test('a fairseq .pt checkpoint with the older weight_g/weight_v names gives the same model', async (t) => {
  const { weights, golden } = await fixtureWeights();
  const pt = (await readTorchCheckpoint(join(FIX, 'ecgfm-small.pt'))).tensors;
  t.ok(
    pt.has('encoder.pos_conv.0.weight_g') && pt.has('encoder.pos_conv.0.weight_v'),
    'old-style names in the fixture',
  );
  const fromPt = new Map([
    ...canonicalEncoderWeights(pt, arch, 'ecgfm-small.pt'),
    ...headWeights(weights, arch, 'head'),
  ]);
  const out = await run(
    buildEcgFmGraph(arch, fromPt, { inputLeads: 1, leadSlot: 0, samples: N }),
    golden.get('golden.input')!.data,
    1,
  );
  t.ok(maxDiff(out[IO.probabilities].data as Float32Array, golden.get('golden.probabilities')!.data) < 1e-4);
});

t.test('missing, unexpected and mis-shaped keys are named in one error', async (t) => {
  const raw = await readSafetensors(join(FIX, 'ecgfm-small.safetensors'));
  const ckpt = new Map([...raw].filter(([k]) => !k.startsWith('golden.')));
  ckpt.delete('encoder.layers.1.fc2.bias');
  ckpt.set('encoder.layers.9.fc1.weight', { shape: [1], data: new Float32Array(1) });
  ckpt.set('post_extract_proj.bias', { shape: [3], data: new Float32Array(3) });
  ckpt.set('mask_emb', { shape: [arch.dim], data: new Float32Array(arch.dim) }); // pretraining-only: ignored
  const err = (() => {
    try {
      canonicalEncoderWeights(ckpt, arch, 'bad.safetensors');
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof WeightError);
  const msg = (err as Error).message;
  t.match(
    msg,
    /^bad\.safetensors: 1 missing keys \(encoder\.layers\.1\.fc2\.bias\); 1 unexpected keys \(encoder\.layers\.9\.fc1\.weight\); 1 mis-shaped keys \(post_extract_proj\.bias \[3\] \(expected \[64\]\)\); an ECG-FM .* README "Bring your own model"$/,
  );
  // A checkpoint of something else entirely: counts and the first few, not hundreds of names.
  const other = new Map(
    [...Array(300).keys()].map((i) => [`vit.blocks.${i}.w`, { shape: [1], data: new Float32Array(1) }]),
  );
  const long = (() => {
    try {
      canonicalEncoderWeights(other, arch, 'vit.pt');
    } catch (e) {
      return (e as Error).message;
    }
  })()!;
  t.match(
    long,
    /\d+ missing keys \(first 3: [^)]*\); 300 unexpected keys \(first 3: vit\.blocks\.0\.w, vit\.blocks\.1\.w, vit\.blocks\.2\.w\)/,
  );
  t.ok(long.length < 400, `one short line (${long.length} characters)`);
});

t.test('seeded initialisation: same seed, same bytes; the graph is opset >= 17', async (t) => {
  const a = buildEcgFmGraph(arch, seededWeights(arch, 7), { inputLeads: 1, leadSlot: 0, samples: N });
  const b = buildEcgFmGraph(arch, seededWeights(arch, 7), { inputLeads: 1, leadSlot: 0, samples: N });
  const c = buildEcgFmGraph(arch, seededWeights(arch, 8), { inputLeads: 1, leadSlot: 0, samples: N });
  t.ok(Buffer.from(a).equals(Buffer.from(b)));
  t.notOk(Buffer.from(a).equals(Buffer.from(c)));
  const model = onnxProto.onnx.ModelProto.decode(a);
  t.ok(Number(model.opsetImport[0].version) >= 17);
  const out = await run(
    a,
    new Float32Array(N).map((_, i) => Math.sin(i / 20)),
    1,
  );
  const p = out[IO.probabilities].data as Float32Array;
  t.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-5, 'probabilities sum to 1');
  t.same(
    Array.from(out[IO.gate].data as Float32Array).map((v) => v.toFixed(6)),
    new Array(arch.layers).fill((1 / arch.layers).toFixed(6)),
    'gate starts uniform',
  );
});

t.test('the full ECG-FM architecture', async (t) => {
  t.equal(framesOf(ECGFM_FULL, 2500), 156, '2500 samples → 156 frames');
  // 90 373 120 inference parameters; the published 90 883 072 also counts pretraining-only modules.
  t.equal(parameterCount(encoderShapes(ECGFM_FULL)), 90_373_120);
});
