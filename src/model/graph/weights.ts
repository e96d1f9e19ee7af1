import { gaussian } from '../rng.js';
import { type EcgFmArch, encoderShapes, headShapes } from './arch.js';
import { sizeOf, type Tensor, type TensorMap } from './tensor.js';
import { WeightError } from './weight-error.js';

/** Modules of the pretraining model that inference does not use (fairseq's remove_pretraining_modules). */
const PRETRAINING_ONLY = [
  /^mask_emb$/,
  /^quantizer\./,
  /^project_q\./,
  /^final_proj\./,
  /^target_glu\./,
  /^project_inp\./,
];

const G_NAMES = ['.weight_g', '.parametrizations.weight.original0'];
const V_NAMES = ['.weight_v', '.parametrizations.weight.original1'];

/**
 * Folds weight normalisation over `dim` 2 (the kernel axis, as ECG-FM's positional conv):
 * w[:, :, k] = g[k] * v[:, :, k] / ||v[:, :, k]||.
 */
export function foldWeightNorm(g: Tensor, v: Tensor): Tensor {
  const [o, i, k] = v.shape;
  const w = new Float32Array(v.data.length);
  for (let kk = 0; kk < k; kk++) {
    let sum = 0;
    for (let a = 0; a < o * i; a++) sum += v.data[a * k + kk] ** 2;
    const scale = g.data[kk] / Math.sqrt(sum);
    for (let a = 0; a < o * i; a++) w[a * k + kk] = v.data[a * k + kk] * scale;
  }
  return { shape: v.shape, data: w };
}

/**
 * Maps a checkpoint's encoder state dict onto the canonical names: the older `encoder.pos_conv`
 * prefix becomes `conv_pos.pos_conv`, weight norm (weight_g/weight_v or parametrizations
 * original0/original1) is folded, pretraining-only modules are dropped. Missing, unexpected or
 * mis-shaped keys are all reported in one WeightError.
 */
export function canonicalEncoderWeights(raw: TensorMap, arch: EcgFmArch, file: string): TensorMap {
  const renamed: TensorMap = new Map();
  for (const [k, t] of raw) renamed.set(k.replace(/^encoder\.pos_conv\./, 'conv_pos.pos_conv.'), t);
  const base = 'conv_pos.pos_conv.0';
  const g = G_NAMES.map((s) => renamed.get(base + s)).find(Boolean);
  const v = V_NAMES.map((s) => renamed.get(base + s)).find(Boolean);
  const problems: string[] = [];
  if (g && v) {
    if (v.shape.length !== 3 || sizeOf(g.shape) !== v.shape[2]) {
      problems.push(`${base}: weight-norm g [${g.shape}] does not fit v [${v.shape}]`);
    } else {
      renamed.set(`${base}.weight`, foldWeightNorm(g, v));
    }
    for (const s of [...G_NAMES, ...V_NAMES]) renamed.delete(base + s);
  }
  const expected = encoderShapes(arch);
  const out: TensorMap = new Map();
  const missing: string[] = [];
  const misshaped: string[] = [];
  for (const [k, shape] of expected) {
    const t = renamed.get(k);
    if (!t) missing.push(k);
    else if (t.shape.join(',') !== shape.join(',')) misshaped.push(`${k} [${t.shape}] (expected [${shape}])`);
    else out.set(k, t);
  }
  const unexpected = [...renamed.keys()].filter(
    (k) => !expected.has(k) && !k.startsWith('nmoe.') && !PRETRAINING_ONLY.some((r) => r.test(k)),
  );
  const few = (what: string, keys: string[]) =>
    `${keys.length} ${what}${keys.length > 3 ? ` (first 3: ${keys.slice(0, 3).join(', ')})` : ` (${keys.join(', ')})`}`;
  if (missing.length) problems.push(few('missing keys', missing));
  if (unexpected.length) problems.push(few('unexpected keys', unexpected));
  if (misshaped.length) problems.push(few('mis-shaped keys', misshaped));
  if (problems.length)
    throw new WeightError(file, [
      ...problems,
      'an ECG-FM (fairseq-signals ecg_transformer) checkpoint is expected: README "Bring your own model"',
    ]);
  return out;
}

/** The NMoE gate and head, checked against the architecture. */
export function headWeights(raw: TensorMap, arch: EcgFmArch, file: string): TensorMap {
  const out: TensorMap = new Map();
  const problems: string[] = [];
  for (const [k, shape] of headShapes(arch)) {
    const t = raw.get(k);
    if (!t) problems.push(`missing key ${k}`);
    else if (t.shape.join(',') !== shape.join(',')) problems.push(`${k} [${t.shape}] (expected [${shape}])`);
    else out.set(k, t);
  }
  if (problems.length) throw new WeightError(file, problems);
  return out;
}

/**
 * Seeded initialisation in the manner of fairseq-signals: Kaiming-normal convs, N(0, 0.02) linears,
 * positional conv N(0, sqrt(4 / (kernel * dim))), unit norms, zero biases; gate ones, BatchNorm identity.
 */
export function seededWeights(arch: EcgFmArch, seed: number): TensorMap {
  const rand = gaussian(seed);
  const out: TensorMap = new Map();
  const fill = (shape: number[], std: number): Tensor => {
    const data = new Float32Array(sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = rand() * std;
    return { shape, data };
  };
  const constant = (shape: number[], value: number): Tensor => ({
    shape,
    data: new Float32Array(sizeOf(shape)).fill(value),
  });
  for (const [k, shape] of [...encoderShapes(arch), ...headShapes(arch)]) {
    let t: Tensor;
    if (/(layer_norm|conv_layers\.0\.2)\.weight$|^nmoe\.bn\.(weight|running_var)$/.test(k))
      t = constant(shape, 1);
    else if (k === 'nmoe.gate') t = constant(shape, 1);
    else if (k.endsWith('.bias') || k.endsWith('running_mean')) t = constant(shape, 0);
    else if (k.startsWith('feature_extractor.')) t = fill(shape, Math.sqrt(2 / (shape[1] * shape[2])));
    else if (k.startsWith('conv_pos.')) t = fill(shape, Math.sqrt(4 / (arch.posConvKernel * arch.dim)));
    else t = fill(shape, 0.02);
    out.set(k, t);
  }
  return out;
}
