import onnxProto from 'onnx-proto';
import { initializer } from '../graph/onnx-edit.js';
import { quantizeChannel } from './pair-safe.js';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
type NodeProto = onnxProto.onnx.INodeProto;
const INT8 = onnx.TensorProto.DataType.INT8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** A MatMul or Conv with a constant weight: the layers INT8 pays off on. */
export interface QuantTarget {
  node: NodeProto;
  activation: string;
  weight: string;
  /** Conv bias, moved after the output's Q/DQ (float add). */
  bias?: string;
  output: string;
  /** The weight's output-channel axis: 1 for MatMul (K, N), 0 for Conv (O, I, k). */
  channelAxis: number;
}

/**
 * Encoder MatMuls (projections, FFN) and the positional conv, with initializer weights. The
 * feature extractor's stride-2 convs stay float: they carry ~1 % of the MACs, and per-tensor int8
 * on their outputs (the ECG's peaks set the range) cost 9 % relative error in the embeddings
 * (measured); so does the small NMoE head, for its probabilities.
 */
export function quantTargets(model: Model, keepFp32: RegExp | null = null): QuantTarget[] {
  const inits = new Map(model.graph!.initializer!.map((i) => [i.name!, i]));
  const targets: QuantTarget[] = [];
  for (const n of model.graph!.node!) {
    const w = inits.get(n.input![1] ?? '');
    if (!w || w.name!.startsWith('nmoe.') || keepFp32?.test(w.name!)) continue;
    const base = { node: n, activation: n.input![0], weight: w.name!, output: n.output![0] };
    if (n.opType === 'MatMul') targets.push({ ...base, channelAxis: 1 });
    if (n.opType === 'Conv' && Number(w.dims![2]) >= 8) {
      targets.push({ ...base, channelAxis: 0, ...(n.input![2] ? { bias: n.input![2] } : {}) });
    }
  }
  return targets;
}

/** Tensors whose ranges calibration must see: every target's activation input and output. */
export function calibrationTensors(targets: QuantTarget[]): string[] {
  return [...new Set(targets.flatMap((t) => [t.activation, t.output]))];
}

/** A copy of the model that also outputs the given intermediate tensors (for calibration). */
export function withExtraOutputs(model: Model, names: string[]): Model {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  for (const name of names) copy.graph!.output!.push({ name, type: { tensorType: { elemType: FLOAT } } });
  return copy;
}

/** Symmetric int8 scale for a range: zero point 0, ±127 (TensorRT's convention). */
export const scaleFor = (maxAbs: number): number => (maxAbs > 0 ? maxAbs / 127 : 1);

/**
 * Rewrites the model to QDQ form as TensorRT and onnxruntime want it: each target MatMul gets
 * Q/DQ on its activation input (per tensor), an int8 weight with per-output-channel scales behind
 * a DequantizeLinear, and Q/DQ on its output, so onnxruntime fuses DQ → MatMul → Q into
 * QLinearMatMul (without the output pair the int8 weights are dequantized on every run).
 */
export function insertQdq(
  model: Model,
  ranges: Map<string, number>,
  keepFp32: RegExp | null = null,
  rounded: Map<string, QuantizedWeight> = new Map(),
): Model {
  const out = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  const graph = out.graph!;
  const targets = new Map(quantTargets(out, keepFp32).map((t) => [t.node.name ?? t.output, t]));
  const inits = graph.initializer!;
  const addInit = (t: onnxProto.onnx.ITensorProto) => inits.push(t);
  const scalarScale = (name: string, s: number) =>
    addInit({ name, dims: [], dataType: FLOAT, rawData: new Uint8Array(Float32Array.of(s).buffer) });
  const zeros = (name: string, n: number | null) =>
    addInit({ name, dims: n === null ? [] : [n], dataType: INT8, rawData: new Uint8Array(n ?? 1) });
  zeros('qdq.zero', null);

  const nodes: NodeProto[] = [];
  // A dedicated Q → DQ pair per consumer. onnxruntime moves a Q/DQ pair to uint8 on x86 and fuses
  // DQ → MatMul → Q into QLinearMatMul only where a Q feeds one DQ; its common-subexpression pass
  // merges Qs with equal inputs and equal scale *values*, so the k-th consumer's scale is nudged by
  // k·2⁻²⁰ (a millionth, far below int8's 1/127 step). Without this q/k/v stay float MatMuls.
  const consumers = new Map<string, number>();
  const qdq = (x: string, into: string) => {
    const maxAbs = ranges.get(x);
    if (maxAbs === undefined) throw new Error(`no calibrated range for ${x}`);
    const k = consumers.get(x) ?? 0;
    consumers.set(x, k + 1);
    const scale = `${into}.scale`;
    scalarScale(scale, scaleFor(maxAbs) * (1 + k * 2 ** -20));
    nodes.push(
      {
        opType: 'QuantizeLinear',
        input: [x, scale, 'qdq.zero'],
        output: [`${into}.q`],
        name: `${into}.quantize`,
      },
      {
        opType: 'DequantizeLinear',
        input: [`${into}.q`, scale, 'qdq.zero'],
        output: [into],
        name: `${into}.dequantize`,
      },
    );
  };
  for (const node of graph.node!) {
    const t = targets.get(node.name ?? node.output![0]);
    if (!t) {
      nodes.push(node);
      continue;
    }
    const a = `${t.activation}.dq.${t.output}`;
    qdq(t.activation, a);
    const w =
      rounded.get(t.weight) ?? quantizeWeight(out, t.weight, t.node.opType === 'Conv' ? 'Conv' : 'MatMul');
    const wi = inits.findIndex((i) => i.name === t.weight);
    inits.splice(wi, 1);
    addInit({ name: `${t.weight}.int8`, dims: w.shape, dataType: INT8, rawData: w.q });
    addInit({
      name: `${t.weight}.scale`,
      dims: [w.scales.length],
      dataType: FLOAT,
      rawData: new Uint8Array(w.scales.buffer),
    });
    zeros(`${t.weight}.zero`, w.scales.length);
    nodes.push({
      opType: 'DequantizeLinear',
      input: [`${t.weight}.int8`, `${t.weight}.scale`, `${t.weight}.zero`],
      output: [`${t.weight}.dq`],
      name: `${t.weight}.dequantize`,
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: t.channelAxis }],
    });
    const raw = `${t.output}.float`;
    nodes.push({ ...node, input: [a, `${t.weight}.dq`], output: [raw] }); // the bias input, if any, dropped
    ranges.set(raw, ranges.get(t.output)!);
    if (t.bias) {
      // QLinearConv wants an int32 bias; a float Add after the output pair is as fast and exact.
      const b = initializer(out, t.bias);
      addInit({
        name: `${t.bias}.col`,
        dims: [b.shape[0], 1],
        dataType: FLOAT,
        rawData: new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength),
      });
      // Calibration saw the output with its bias: |y − b| ≤ max|y| + max|b| bounds it without.
      const maxBias = b.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      ranges.set(raw, ranges.get(t.output)! + maxBias);
      const unbiased = `${t.output}.nobias`;
      qdq(raw, unbiased);
      nodes.push({
        opType: 'Add',
        input: [unbiased, `${t.bias}.col`],
        output: [t.output],
        name: `${t.output}.bias`,
      });
    } else {
      qdq(raw, t.output);
    }
  }
  graph.node = nodes;
  return out;
}

/** An int8 weight (its bytes), its per-channel scales, and the pairs the pair limit clamped. */
export interface QuantizedWeight {
  shape: number[];
  q: Uint8Array;
  scales: Float32Array;
  clampedPairs: number;
}

/**
 * Symmetric int8 of a weight, one scale per output channel, pair-safe (pair-safe.ts). Each
 * channel is read in the order its GEMM consumes it: a MatMul weight [K, N] down its column, a
 * Conv weight [O, I, k] tap by tap with the input channels inside (onnxruntime's packing).
 */
export function quantizeWeight(model: Model, name: string, op: 'MatMul' | 'Conv'): QuantizedWeight {
  const w = initializer(model, name);
  const [rows, cols, taps] =
    op === 'MatMul' ? [w.shape[0], w.shape[1], 1] : [w.shape[1], w.shape[0], w.shape[2]];
  // Element `pos` (GEMM order) of channel c, as an index into the weight's data.
  const at =
    op === 'MatMul'
      ? (c: number, pos: number) => pos * cols + c
      : (c: number, pos: number) => (c * rows + (pos % rows)) * taps + Math.floor(pos / rows);
  const length = rows * taps;
  const scales = new Float32Array(cols);
  const q = new Int8Array(w.data.length);
  const channel = new Float32Array(length);
  const qc = new Int8Array(length);
  let clampedPairs = 0;
  for (let c = 0; c < cols; c++) {
    for (let pos = 0; pos < length; pos++) channel[pos] = w.data[at(c, pos)];
    const r = quantizeChannel(channel, qc);
    scales[c] = r.scale;
    clampedPairs += r.clampedPairs;
    for (let pos = 0; pos < length; pos++) q[at(c, pos)] = qc[pos];
  }
  return { shape: w.shape, q: new Uint8Array(q.buffer), scales, clampedPairs };
}
