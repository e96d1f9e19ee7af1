import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { openSession } from '../runtime/session.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** A graph computing XᵀX of a [T, K] input: onnxruntime's GEMM does the heavy part of GPTQ's statistics. */
function gramGraph(k: number): Uint8Array {
  const io = (name: string, dims: (number | string)[]) => ({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'gram',
      node: [
        { opType: 'Transpose', input: ['x'], output: ['xt'] },
        { opType: 'MatMul', input: ['xt', 'x'], output: ['g'] },
      ],
      input: [io('x', ['tokens', k])],
      output: [io('g', [k, k])],
    },
  }).finish();
}

/** Sums XᵀX over calibration windows, per activation tensor (the rows of X are its tokens). */
export class GramAccumulator {
  private readonly sums = new Map<string, Float64Array>();
  private readonly sessions = new Map<number, Promise<ort.InferenceSession>>();

  constructor(private readonly threads: number) {}

  /** Adds one window's activation, whose last dimension is the MatMul's K. */
  async add(name: string, data: Float32Array, k: number): Promise<void> {
    let session = this.sessions.get(k);
    if (!session) {
      session = openSession(gramGraph(k), { providers: ['cpu'], threads: this.threads }).then(
        (s) => s.session,
      );
      this.sessions.set(k, session);
    }
    const x = new ort.Tensor('float32', data, [data.length / k, k]);
    const g = (await (await session).run({ x })).g.data as Float32Array;
    let sum = this.sums.get(name);
    if (!sum) this.sums.set(name, (sum = new Float64Array(k * k)));
    for (let i = 0; i < g.length; i++) sum[i] += g[i];
  }

  get(name: string): Float64Array | undefined {
    return this.sums.get(name);
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
  }
}
