import onnxProto from 'onnx-proto';
import { initializer } from '../build/onnx-edit.js';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
type NodeProto = onnxProto.onnx.INodeProto;
const INT8 = onnx.TensorProto.DataType.INT8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** A MatMul with a constant weight: the layers INT8 pays off on (projections, FFN). */
export interface QuantTarget {
  node: NodeProto;
  activation: string;
  weight: string;
  output: string;
}

/** Encoder MatMuls with an initializer weight; the small NMoE head stays float for its probabilities. */
export function quantTargets(model: Model): QuantTarget[] {
  const inits = new Set(model.graph!.initializer!.map((i) => i.name));
  return model
    .graph!.node!.filter(
      (n) => n.opType === 'MatMul' && inits.has(n.input![1]) && !n.input![1].startsWith('nmoe.'),
    )
    .map((n) => ({ node: n, activation: n.input![0], weight: n.input![1], output: n.output![0] }));
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
export function insertQdq(model: Model, ranges: Map<string, number>): Model {
  const out = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  const graph = out.graph!;
  const targets = new Map(quantTargets(out).map((t) => [t.node.name ?? t.output, t]));
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
    const w = quantizeWeight(out, t.weight);
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
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    });
    const raw = `${t.output}.float`;
    nodes.push({ ...node, input: [a, `${t.weight}.dq`], output: [raw] });
    ranges.set(raw, ranges.get(t.output)!);
    qdq(raw, t.output);
  }
  graph.node = nodes;
  return out;
}

/** Per-output-column symmetric int8 of a (K, N) MatMul weight. */
export function quantizeWeight(
  model: Model,
  name: string,
): { shape: number[]; q: Uint8Array; scales: Float32Array } {
  const w = initializer(model, name);
  const [k, n] = w.shape;
  const scales = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    let m = 0;
    for (let r = 0; r < k; r++) m = Math.max(m, Math.abs(w.data[r * n + c]));
    scales[c] = scaleFor(m);
  }
  const q = new Int8Array(k * n);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      q[r * n + c] = Math.max(-127, Math.min(127, Math.round(w.data[r * n + c] / scales[c])));
    }
  }
  return { shape: [k, n], q: new Uint8Array(q.buffer), scales };
}
