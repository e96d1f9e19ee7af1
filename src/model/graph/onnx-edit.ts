import onnxProto from 'onnx-proto';
import type { Tensor } from './tensor.js';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;

export const decodeModel = (bytes: Uint8Array): Model => onnx.ModelProto.decode(bytes);
export const encodeModel = (m: Model): Uint8Array => onnx.ModelProto.encode(m).finish();

/** Replaces float32 initializers by name; every name must exist. */
export function replaceInitializers(model: Model, tensors: Map<string, Tensor>): void {
  const missing = new Set(tensors.keys());
  for (const init of model.graph!.initializer!) {
    const t = tensors.get(init.name!);
    if (!t) continue;
    init.dims = t.shape;
    init.rawData = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    init.floatData = [];
    missing.delete(init.name!);
  }
  if (missing.size > 0) throw new Error(`initializers not in the model: ${[...missing].join(', ')}`);
}

/** Sets a graph output's static dimensions (e.g. the class count after training a new head). */
export function setOutputDims(model: Model, name: string, dims: number[]): void {
  const out = model.graph!.output!.find((o) => o.name === name);
  if (!out) throw new Error(`output ${name} not in the model`);
  out.type!.tensorType!.shape!.dim = dims.map((d) => ({ dimValue: d }));
}

/** Reads a float32 initializer (raw or float_data). */
export function initializer(model: Model, name: string): Tensor {
  const init = model.graph!.initializer!.find((i) => i.name === name);
  if (!init) throw new Error(`initializer ${name} not in the model`);
  const shape = (init.dims ?? []).map(Number);
  if (init.rawData && init.rawData.length > 0) {
    const copy = new Uint8Array(init.rawData); // aligned copy
    return { shape, data: new Float32Array(copy.buffer, 0, copy.length / 4) };
  }
  return { shape, data: Float32Array.from(init.floatData ?? []) };
}
