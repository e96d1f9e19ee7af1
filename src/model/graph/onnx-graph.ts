import onnxProto from 'onnx-proto';
import type { Tensor } from './tensor.js';

const { onnx } = onnxProto;

export const OPSET = 17;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

type AttrValue = number | number[] | { float: number } | { floats: number[] };

/** Small helper to assemble an ONNX graph: named initializers, nodes with generated output names. */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;

  /** Adds a float32 initializer and returns its name. */
  weight(name: string, t: Tensor): string {
    this.initializers.push({
      name,
      dims: t.shape,
      dataType: FLOAT,
      rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    });
    return name;
  }

  /** An int64 constant (shapes, axes, slice bounds). */
  ints(values: number[]): string {
    const name = `const_${this.counter++}`;
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: INT64,
      rawData: new Uint8Array(raw.buffer),
    });
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    return this.weight(`const_${this.counter++}`, { shape: [], data: Float32Array.of(value) });
  }

  /** Appends a node; integers are INT/INTS attributes, `{ float }` FLOAT. Returns the output name. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? `${op.toLowerCase()}_${this.counter++}`;
    const attribute = Object.entries(attrs).map(([name, v]) => {
      if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
      if (typeof v === 'number') return { name, type: onnx.AttributeProto.AttributeType.INT, i: v };
      if ('float' in v) return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.float };
      return { name, type: onnx.AttributeProto.AttributeType.FLOATS, floats: v.floats };
    });
    this.nodes.push({ opType: op, input: inputs, output: [out], attribute, name: out });
    return out;
  }

  /** Serialises the model. Dimensions given as strings are symbolic. */
  build(
    name: string,
    inputs: [string, (number | string)[]][],
    outputs: [string, (number | string)[]][],
    metadata: Record<string, string> = {},
  ): Uint8Array {
    const info = ([n, dims]: [string, (number | string)[]]) => ({
      name: n,
      type: {
        tensorType: {
          elemType: FLOAT,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'ecg-emotiond',
      graph: {
        name,
        node: this.nodes,
        initializer: this.initializers,
        input: inputs.map(info),
        output: outputs.map(info),
      },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
