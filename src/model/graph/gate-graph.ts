import onnxProto from 'onnx-proto';
import type { EcgFmArch } from './arch.js';
import { IO } from './ecgfm-graph.js';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;

/**
 * How the layer experts are weighed. The paper fuses them "with trainable weights within a gating
 * mechanism" without saying whether the weights depend on the input: `static` learns one weight
 * per layer, softmax(w); `input` adds a linear score of each layer's pooled embedding, shared over
 * the layers, softmax(w + E·u). With u = 0 the input gate is the static one.
 */
export type GateKind = 'static' | 'input';

const LOGITS = 'nmoe.gate_logits';
const SCORES = 'nmoe.gate_scores';
const SCORES_2D = 'nmoe.gate_scores_2d';
const PROJ = 'nmoe.gate_proj';
const SHAPE = 'nmoe.gate_shape';

function gateSoftmax(model: Model) {
  const node = model.graph!.node!.find((n) => n.output?.[0] === IO.gate && n.opType === 'Softmax');
  if (!node) throw new Error(`the graph has no Softmax producing ${IO.gate}`);
  return node;
}

export const gateKindOf = (model: Model): GateKind =>
  gateSoftmax(model).input![0] === LOGITS ? 'input' : 'static';

/**
 * Rewrites the gate of a graph built by `buildEcgFmGraph` to `kind`. The input gate's u starts at
 * zero (training replaces it): Softmax(nmoe.gate + Reshape(layer_embeddings · u, [L])).
 */
export function setGateKind(model: Model, kind: GateKind, arch: Pick<EcgFmArch, 'layers' | 'dim'>): void {
  if (gateKindOf(model) === kind) return;
  const g = model.graph!;
  const softmax = gateSoftmax(model);
  if (kind === 'static') {
    g.node = g.node!.filter((n) => ![SCORES_2D, SCORES, LOGITS].includes(n.output![0]));
    g.initializer = g.initializer!.filter((i) => i.name !== PROJ && i.name !== SHAPE);
    softmax.input = ['nmoe.gate'];
    return;
  }
  g.initializer!.push(
    {
      name: PROJ,
      dims: [arch.dim, 1],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(arch.dim * 4),
    },
    {
      name: SHAPE,
      dims: [1],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(BigInt64Array.of(BigInt(arch.layers)).buffer),
    },
  );
  const node = (opType: string, input: string[], output: string) =>
    onnx.NodeProto.create({ opType, input, output: [output], name: output });
  // The embeddings come before the gate in the graph, so the new nodes go just before its Softmax.
  const at = g.node!.indexOf(softmax);
  g.node!.splice(
    at,
    0,
    node('MatMul', [IO.layerEmbeddings, PROJ], SCORES_2D),
    node('Reshape', [SCORES_2D, SHAPE], SCORES),
    node('Add', ['nmoe.gate', SCORES], LOGITS),
  );
  softmax.input = [LOGITS];
}
