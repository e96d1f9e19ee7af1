import { type EcgFmArch, checkArch } from './arch.js';
import { GraphBuilder } from './onnx-graph.js';
import { type Tensor, type TensorMap, transpose2d } from './tensor.js';

export interface GraphOptions {
  /** 1: single-lead input (1, 1, N) with the first conv sliced to `leadSlot`; or the pretrained lead count. */
  inputLeads: number;
  /** Which pretrained lead the single lead feeds (0 = lead I). */
  leadSlot: number;
  /** Input length: a number fixes it (as the runtime wants), a string makes it symbolic. */
  samples: number | string;
  /** Also output every layer's full output `layer_output_<l>` (1, T, D), for parity tests. */
  exposeLayerOutputs?: boolean;
}

const LN_EPS = 1e-5;
const BN_EPS = 1e-5;

/** Names of the graph's inputs and outputs: the model package's contract. */
export const IO = {
  input: 'ecg',
  probabilities: 'probabilities',
  gate: 'gate_weights',
  layerEmbeddings: 'layer_embeddings',
} as const;

/**
 * The ECG-FM encoder with the NMoE head as an ONNX graph. `weights` holds the canonical encoder
 * names (see canonicalEncoderWeights) and the `nmoe.*` head. Outputs: class probabilities (1, C),
 * gate weights (L) and the per-layer time-mean embeddings (L, D) that training uses.
 */
export function buildEcgFmGraph(arch: EcgFmArch, weights: TensorMap, options: GraphOptions): Uint8Array {
  checkArch(arch);
  const g = new GraphBuilder();
  const w = (k: string): Tensor => {
    const t = weights.get(k);
    if (!t) throw new Error(`weight ${k} missing (weights must be checked before building)`);
    return t;
  };
  const init = (k: string, t: Tensor = w(k)) => g.weight(k, t);
  const sqrt2 = g.scalar(Math.SQRT2);
  const one = g.scalar(1);
  const half = g.scalar(0.5);
  // Exact (erf) GELU, as torch's F.gelu; onnxruntime fuses this pattern into one Gelu kernel.
  const gelu = (x: string) =>
    g.node('Mul', [
      g.node('Mul', [x, g.node('Add', [g.node('Erf', [g.node('Div', [x, sqrt2])]), one])]),
      half,
    ]);
  const linear = (x: string, k: string, scale = 1) => {
    const wt = transpose2d(w(`${k}.weight`));
    const b = w(`${k}.bias`);
    if (scale !== 1) {
      wt.data.forEach((v, i) => (wt.data[i] = v * scale));
    }
    const bias = scale === 1 ? b : { shape: b.shape, data: b.data.map((v) => v * scale) };
    return g.node('Add', [
      g.node('MatMul', [x, g.weight(`${k}.weight_t`, wt)]),
      g.weight(`${k}.bias_s`, bias),
    ]);
  };
  const layerNorm = (x: string, k: string) =>
    g.node('LayerNormalization', [x, init(`${k}.weight`), init(`${k}.bias`)], {
      axis: -1,
      epsilon: { float: LN_EPS },
    });
  const perm = (x: string, p: number[]) => g.node('Transpose', [x], { perm: p });

  // Conv feature extractor. With one input lead the first conv keeps only that lead's input channel:
  // the other leads are zero, so their weights never contribute.
  let first = w('feature_extractor.conv_layers.0.0.weight');
  if (options.inputLeads === 1) first = sliceInputChannel(first, options.leadSlot);
  else if (options.inputLeads !== arch.inLeads)
    throw new RangeError(`inputLeads must be 1 or ${arch.inLeads}`);
  const conv = (x: string, k: string, t?: Tensor) =>
    g.node('Conv', [x, init(k, t)], { kernel_shape: [arch.convKernel], strides: [arch.convStride] });
  let x = conv(IO.input, 'feature_extractor.conv_layers.0.0.weight', first);
  // GroupNorm(C, C) normalises each channel over time: InstanceNormalization.
  x = g.node(
    'InstanceNormalization',
    [x, init('feature_extractor.conv_layers.0.2.weight'), init('feature_extractor.conv_layers.0.2.bias')],
    {
      epsilon: { float: 1e-5 },
    },
  );
  x = gelu(x);
  for (let i = 1; i < arch.convLayers; i++) x = gelu(conv(x, `feature_extractor.conv_layers.${i}.0.weight`));
  x = perm(x, [0, 2, 1]); // (1, T, C)
  x = linear(layerNorm(x, 'layer_norm'), 'post_extract_proj');

  // Convolutional positional embedding; an even kernel yields one extra frame, dropped (SamePad).
  let pos = g.node(
    'Conv',
    [perm(x, [0, 2, 1]), init('conv_pos.pos_conv.0.weight'), init('conv_pos.pos_conv.0.bias')],
    {
      kernel_shape: [arch.posConvKernel],
      pads: [arch.posConvKernel >> 1, arch.posConvKernel >> 1],
      group: arch.posConvGroups,
    },
  );
  if (arch.posConvKernel % 2 === 0) pos = g.node('Slice', [pos, g.ints([0]), g.ints([-1]), g.ints([2])]);
  x = g.node('Add', [x, perm(gelu(pos), [0, 2, 1])]);
  x = layerNorm(x, 'encoder.layer_norm'); // post-LN encoder: normalise before the first layer

  const dh = arch.dim / arch.heads;
  const headsShape = g.ints([0, -1, arch.heads, dh]);
  const mergedShape = g.ints([0, -1, arch.dim]);
  const pooled: string[] = [];
  for (let l = 0; l < arch.layers; l++) {
    const p = `encoder.layers.${l}.`;
    // 1/sqrt(d_head) folded into the query projection.
    const q = perm(
      g.node('Reshape', [linear(x, `${p}self_attn.q_proj`, dh ** -0.5), headsShape]),
      [0, 2, 1, 3],
    );
    const k = perm(g.node('Reshape', [linear(x, `${p}self_attn.k_proj`), headsShape]), [0, 2, 3, 1]);
    const v = perm(g.node('Reshape', [linear(x, `${p}self_attn.v_proj`), headsShape]), [0, 2, 1, 3]);
    const attn = g.node('Softmax', [g.node('MatMul', [q, k])], { axis: -1 });
    const ctx = g.node('Reshape', [perm(g.node('MatMul', [attn, v]), [0, 2, 1, 3]), mergedShape]);
    const a = layerNorm(
      g.node('Add', [x, linear(ctx, `${p}self_attn.out_proj`)]),
      `${p}self_attn_layer_norm`,
    );
    const f = linear(gelu(linear(a, `${p}fc1`)), `${p}fc2`);
    x = layerNorm(g.node('Add', [a, f]), `${p}final_layer_norm`);
    if (options.exposeLayerOutputs) x = g.node('Identity', [x], {}, `layer_output_${l}`);
    pooled.push(g.node('ReduceMean', [x], { axes: [1], keepdims: 0 })); // (1, D)
  }
  const embeddings = g.node('Concat', pooled, { axis: 0 }, IO.layerEmbeddings); // (L, D)

  // NMoE: static gate softmax(w) over the layer outputs, then the head with BatchNorm folded in.
  const head = headInitializers(weights);
  const hw = (k: string) => g.weight(k, head.get(k)!);
  const gate = g.node('Softmax', [hw('nmoe.gate')], { axis: 0 }, IO.gate);
  const fused = g.node('MatMul', [g.node('Reshape', [gate, g.ints([1, arch.layers])]), embeddings]); // (1, D)
  const hidden = g.node('Relu', [
    g.node('Add', [g.node('MatMul', [fused, hw('nmoe.dense1_bn.weight_t')]), hw('nmoe.dense1_bn.bias')]),
  ]);
  const logits = g.node('Add', [
    g.node('MatMul', [hidden, hw('nmoe.dense2.weight_t')]),
    hw('nmoe.dense2.bias'),
  ]);
  g.node('Softmax', [logits], { axis: -1 }, IO.probabilities);

  const layerOutputs: [string, (number | string)[]][] = options.exposeLayerOutputs
    ? Array.from({ length: arch.layers }, (_, l) => [`layer_output_${l}`, [1, 'frames', arch.dim]])
    : [];
  return g.build(
    'ecgfm_nmoe',
    [[IO.input, [1, options.inputLeads, options.samples]]],
    [
      [IO.probabilities, [1, arch.classes]],
      [IO.gate, [arch.layers]],
      [IO.layerEmbeddings, [arch.layers, arch.dim]],
      ...layerOutputs,
    ],
  );
}

/** The first conv's weights for one input channel: (out, leads, k) → (out, 1, k). */
export function sliceInputChannel(t: Tensor, slot: number): Tensor {
  const [o, i, k] = t.shape;
  if (slot < 0 || slot >= i) throw new RangeError(`lead slot ${slot} outside 0..${i - 1}`);
  const data = new Float32Array(o * k);
  for (let a = 0; a < o; a++) for (let b = 0; b < k; b++) data[a * k + b] = t.data[(a * i + slot) * k + b];
  return { shape: [o, 1, k], data };
}

/**
 * The head's graph initializers from its `nmoe.*` tensors: BatchNorm folded into the first Dense,
 * Dense weights transposed for MatMul. Training a new head replaces exactly these.
 */
export function headInitializers(weights: TensorMap): Map<string, Tensor> {
  const w = (k: string) => {
    const t = weights.get(k);
    if (!t) throw new Error(`weight ${k} missing`);
    return t;
  };
  const folded = foldBatchNorm(w('nmoe.dense1.weight'), w('nmoe.dense1.bias'), weights);
  return new Map([
    ['nmoe.gate', w('nmoe.gate')],
    ...(weights.has('nmoe.gate_proj') ? [['nmoe.gate_proj', w('nmoe.gate_proj')] as const] : []),
    ['nmoe.dense1_bn.weight_t', transpose2d(folded.weight)],
    ['nmoe.dense1_bn.bias', folded.bias],
    ['nmoe.dense2.weight_t', transpose2d(w('nmoe.dense2.weight'))],
    ['nmoe.dense2.bias', w('nmoe.dense2.bias')],
  ]);
}

/** Dense followed by inference-mode BatchNorm, as one Dense: W' = W * γ/σ (per row), b' = (b - μ) γ/σ + β. */
export function foldBatchNorm(
  weight: Tensor,
  bias: Tensor,
  weights: TensorMap,
): { weight: Tensor; bias: Tensor } {
  const gamma = weights.get('nmoe.bn.weight')!.data;
  const beta = weights.get('nmoe.bn.bias')!.data;
  const mean = weights.get('nmoe.bn.running_mean')!.data;
  const variance = weights.get('nmoe.bn.running_var')!.data;
  const [rows, cols] = weight.shape;
  const w = new Float32Array(weight.data.length);
  const b = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const s = gamma[r] / Math.sqrt(variance[r] + BN_EPS);
    for (let c = 0; c < cols; c++) w[r * cols + c] = weight.data[r * cols + c] * s;
    b[r] = (bias.data[r] - mean[r]) * s + beta[r];
  }
  return { weight: { shape: weight.shape, data: w }, bias: { shape: bias.shape, data: b } };
}
