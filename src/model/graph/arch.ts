import { ModelError } from '../package/model-package.js';
/** The ECG-FM encoder (fairseq-signals ecg_transformer) with the NMoE head, parametrised. */
export interface EcgFmArch {
  layers: number;
  /** Transformer width (encoder_embed_dim). */
  dim: number;
  heads: number;
  ffn: number;
  /** Conv feature extractor: channels, blocks, kernel and stride of each block. */
  convDim: number;
  convLayers: number;
  convKernel: number;
  convStride: number;
  /** Convolutional positional embedding: kernel and groups. */
  posConvKernel: number;
  posConvGroups: number;
  /** Leads of the pretrained input (I, II, III, aVR, aVL, aVF, V1-V6). */
  inLeads: number;
  headHidden: number;
  classes: number;
  /** Window length in samples at 500 Hz. */
  inputSamples: number;
}

/** ECG-FM as released: 90.9 M parameters. */
export const ECGFM_FULL: EcgFmArch = {
  layers: 12,
  dim: 768,
  heads: 12,
  ffn: 3072,
  convDim: 256,
  convLayers: 4,
  convKernel: 2,
  convStride: 2,
  posConvKernel: 128,
  posConvGroups: 16,
  inLeads: 12,
  headHidden: 256,
  classes: 5,
  inputSamples: 2500,
};

export function checkArch(a: EcgFmArch): void {
  const problems: string[] = [];
  if (a.dim % a.heads !== 0) problems.push(`dim ${a.dim} is not a multiple of heads ${a.heads}`);
  if (a.dim % a.posConvGroups !== 0)
    problems.push(`dim ${a.dim} is not a multiple of posConvGroups ${a.posConvGroups}`);
  for (const [k, v] of Object.entries(a)) {
    if (!(Number.isInteger(v) && v > 0)) problems.push(`${k} must be a positive integer`);
  }
  if (framesOf(a, a.inputSamples) < 1) problems.push(`inputSamples ${a.inputSamples} leaves no frame`);
  if (problems.length > 0) throw new ModelError(`invalid architecture: ${problems.join('; ')}`);
}

/** Frames after the conv feature extractor (2500 samples → 156 for ECG-FM). */
export function framesOf(a: EcgFmArch, samples: number): number {
  let t = samples;
  for (let i = 0; i < a.convLayers; i++) t = Math.floor((t - a.convKernel) / a.convStride) + 1;
  return t;
}

/**
 * Encoder parameter names (current fairseq-signals) and shapes; the weight-normalised positional
 * conv appears as its folded weight.
 */
export function encoderShapes(a: EcgFmArch): Map<string, number[]> {
  const s = new Map<string, number[]>();
  for (let i = 0; i < a.convLayers; i++) {
    s.set(`feature_extractor.conv_layers.${i}.0.weight`, [
      a.convDim,
      i === 0 ? a.inLeads : a.convDim,
      a.convKernel,
    ]);
  }
  s.set('feature_extractor.conv_layers.0.2.weight', [a.convDim]);
  s.set('feature_extractor.conv_layers.0.2.bias', [a.convDim]);
  s.set('layer_norm.weight', [a.convDim]);
  s.set('layer_norm.bias', [a.convDim]);
  s.set('post_extract_proj.weight', [a.dim, a.convDim]);
  s.set('post_extract_proj.bias', [a.dim]);
  s.set('conv_pos.pos_conv.0.weight', [a.dim, a.dim / a.posConvGroups, a.posConvKernel]);
  s.set('conv_pos.pos_conv.0.bias', [a.dim]);
  s.set('encoder.layer_norm.weight', [a.dim]);
  s.set('encoder.layer_norm.bias', [a.dim]);
  for (let l = 0; l < a.layers; l++) {
    const p = `encoder.layers.${l}.`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      s.set(`${p}self_attn.${proj}.weight`, [a.dim, a.dim]);
      s.set(`${p}self_attn.${proj}.bias`, [a.dim]);
    }
    s.set(`${p}self_attn_layer_norm.weight`, [a.dim]);
    s.set(`${p}self_attn_layer_norm.bias`, [a.dim]);
    s.set(`${p}fc1.weight`, [a.ffn, a.dim]);
    s.set(`${p}fc1.bias`, [a.ffn]);
    s.set(`${p}fc2.weight`, [a.dim, a.ffn]);
    s.set(`${p}fc2.bias`, [a.dim]);
    s.set(`${p}final_layer_norm.weight`, [a.dim]);
    s.set(`${p}final_layer_norm.bias`, [a.dim]);
  }
  return s;
}

/** NMoE gate and head parameter names and shapes (BatchNorm kept unfolded until export). */
export function headShapes(a: EcgFmArch): Map<string, number[]> {
  return new Map<string, number[]>([
    ['nmoe.gate', [a.layers]],
    ['nmoe.dense1.weight', [a.headHidden, a.dim]],
    ['nmoe.dense1.bias', [a.headHidden]],
    ['nmoe.bn.weight', [a.headHidden]],
    ['nmoe.bn.bias', [a.headHidden]],
    ['nmoe.bn.running_mean', [a.headHidden]],
    ['nmoe.bn.running_var', [a.headHidden]],
    ['nmoe.dense2.weight', [a.classes, a.headHidden]],
    ['nmoe.dense2.bias', [a.classes]],
  ]);
}

export function parameterCount(shapes: Map<string, number[]>): number {
  let n = 0;
  for (const s of shapes.values()) n += s.reduce((x, y) => x * y, 1);
  return n;
}
