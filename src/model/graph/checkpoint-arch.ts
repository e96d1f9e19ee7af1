import { type EcgFmArch, ECGFM_FULL } from './arch.js';
import type { TensorMap } from './tensor.js';
import { WeightError } from './weight-error.js';

/** Sizes `model build` takes as flags; with a checkpoint they may only repeat what it says. */
export type ArchFlags = Partial<
  Pick<EcgFmArch, 'layers' | 'dim' | 'heads' | 'ffn' | 'convDim' | 'headHidden'>
>;

/**
 * Where the encoder's keys sit: pretraining checkpoints hold them at the top; fine-tuned ones
 * under the fine-tuning model's wrapper (fairseq-signals `encoder.w2v_model.`, fairseq
 * `w2v_encoder.w2v_model.`), beside that task's own head.
 */
const ENCODER_PREFIXES = [
  '',
  'encoder.w2v_model.',
  'w2v_encoder.w2v_model.',
  'w2v_model.',
  'encoder.',
  'w2v_encoder.',
];
const PROBE = 'feature_extractor.conv_layers.0.0.weight';

export interface EncoderKeys {
  /** The encoder's tensors under their pretraining names, with any `nmoe.` head beside them. */
  tensors: TensorMap;
  prefix: string;
  /** Keys outside the encoder and the NMoE head (a fine-tuned task's classifier): not used. */
  ignored: string[];
}

/** The encoder's tensors of a pretraining or fine-tuned checkpoint, under their pretraining names. */
export function encoderKeys(raw: TensorMap): EncoderKeys {
  const prefix = ENCODER_PREFIXES.find((p) => raw.has(p + PROBE)) ?? '';
  const tensors: TensorMap = new Map();
  const ignored: string[] = [];
  for (const [k, t] of raw) {
    if (k.startsWith('nmoe.')) tensors.set(k, t);
    else if (k.startsWith(prefix)) tensors.set(k.slice(prefix.length), t);
    else ignored.push(k);
  }
  return { tensors, prefix, ignored };
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** fairseq's conv_feature_layers, e.g. "[(256, 2, 2)] * 4" or "[(256,2,2),(256,2,2)]": (dim, kernel, stride) each. */
export function parseConvLayers(spec: string): [number, number, number][] | null {
  const layers: [number, number, number][] = [];
  for (const part of spec.replace(/\s+/g, '').split('+')) {
    const m = /^\[((?:\(\d+,\d+,\d+\),?)+)\](?:\*(\d+))?$/.exec(part);
    if (!m) return null;
    const tuples = [...m[1].matchAll(/\((\d+),(\d+),(\d+)\)/g)].map(
      (t) => [Number(t[1]), Number(t[2]), Number(t[3])] as [number, number, number],
    );
    for (let r = 0; r < Number(m[2] ?? 1); r++) layers.push(...tuples);
  }
  return layers;
}

/** What a fairseq cfg says of the architecture (the pretraining model's, for a fine-tuned one). */
export function archFromCfg(cfg: Record<string, unknown> | null): Partial<EcgFmArch> {
  const model = (cfg?.model ?? cfg) as Record<string, unknown> | undefined;
  const w2v = (model?.w2v_args as Record<string, unknown> | undefined)?.model as
    Record<string, unknown> | undefined;
  const m = w2v ?? model;
  if (!m || typeof m !== 'object') return {};
  const out: Partial<EcgFmArch> = {
    layers: num(m.encoder_layers),
    dim: num(m.encoder_embed_dim),
    heads: num(m.encoder_attention_heads),
    ffn: num(m.encoder_ffn_embed_dim),
    posConvKernel: num(m.conv_pos),
    posConvGroups: num(m.conv_pos_groups),
    inLeads: num(m.in_d),
  };
  const conv = typeof m.conv_feature_layers === 'string' ? parseConvLayers(m.conv_feature_layers) : null;
  if (conv && conv.length > 0 && conv.every((l) => l.join() === conv[0].join())) {
    [out.convDim, out.convKernel, out.convStride] = conv[0];
    out.convLayers = conv.length;
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

/** What the encoder's tensor shapes say of the architecture (heads and strides leave no trace). */
export function archFromShapes(t: TensorMap): Partial<EcgFmArch> {
  const out: Partial<EcgFmArch> = {};
  const conv0 = t.get('feature_extractor.conv_layers.0.0.weight')?.shape; // [convDim, inLeads, kernel]
  if (conv0?.length === 3) [out.convDim, out.inLeads, out.convKernel] = conv0;
  let convLayers = 0;
  while (t.has(`feature_extractor.conv_layers.${convLayers}.0.weight`)) convLayers++;
  if (convLayers > 0) out.convLayers = convLayers;
  const proj = t.get('post_extract_proj.weight')?.shape; // [dim, convDim]
  if (proj?.length === 2) out.dim = proj[0];
  let layers = 0;
  while (t.has(`encoder.layers.${layers}.fc1.weight`)) layers++;
  if (layers > 0) out.layers = layers;
  const fc1 = t.get('encoder.layers.0.fc1.weight')?.shape; // [ffn, dim]
  if (fc1?.length === 2) out.ffn = fc1[0];
  // The positional conv's weight (or weight norm's v): [dim, dim / groups, kernel].
  const pos = [...t].find(([k]) =>
    /^(conv_pos\.|encoder\.)pos_conv\.0\.(weight|weight_v|parametrizations\.weight\.original1)$/.test(k),
  )?.[1].shape;
  if (pos?.length === 3 && pos[1] > 0) {
    out.posConvKernel = pos[2];
    out.posConvGroups = pos[0] / pos[1];
  }
  const head = t.get('nmoe.dense1.weight')?.shape; // [headHidden, dim]
  if (head?.length === 2) out.headHidden = head[0];
  return out;
}

const FLAG: Partial<Record<keyof EcgFmArch, string>> = {
  layers: '--layers',
  dim: '--dim',
  heads: '--heads',
  ffn: '--ffn',
  convDim: '--conv-dim',
  headHidden: '--head-hidden',
};

/**
 * The architecture of a checkpoint: its tensor shapes, then its cfg, then flags, then `fallback`
 * for what none of them says (without one, the attention heads must be said somewhere: shapes
 * cannot tell them, and a wrong count builds a model that runs and computes nonsense). Any two
 * that disagree are refused, naming both values.
 */
export function archOfCheckpoint(
  tensors: TensorMap,
  cfg: Record<string, unknown> | null,
  flags: ArchFlags,
  file: string,
  fallback?: EcgFmArch,
): EcgFmArch {
  const shapes = archFromShapes(tensors);
  const said = archFromCfg(cfg);
  const problems: string[] = [];
  const arch = { ...(fallback ?? ECGFM_FULL) };
  if (!fallback && said.heads === undefined && flags.heads === undefined)
    problems.push(
      'the checkpoint does not say its attention heads (no cfg with encoder_attention_heads): give --heads',
    );
  for (const key of Object.keys(ECGFM_FULL) as (keyof EcgFmArch)[]) {
    const known = [
      shapes[key] !== undefined && { value: shapes[key]!, by: `its tensor shapes (${key} ${shapes[key]})` },
      said[key] !== undefined && { value: said[key]!, by: `its cfg (${key} ${said[key]})` },
    ].filter((x): x is { value: number; by: string } => Boolean(x));
    const flag = flags[key as keyof ArchFlags];
    if (known.length === 2 && known[0].value !== known[1].value)
      problems.push(`${known[0].by} and ${known[1].by} disagree`);
    if (flag !== undefined && known.length > 0 && flag !== known[0].value)
      problems.push(`${FLAG[key]} ${flag} contradicts the checkpoint: ${known[0].by}`);
    arch[key] = known[0]?.value ?? flag ?? arch[key];
  }
  if (problems.length > 0) throw new WeightError(file, problems);
  return arch;
}
