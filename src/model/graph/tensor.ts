/** A dense float32 tensor, row-major. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Named tensors, e.g. a checkpoint's state dict. */
export type TensorMap = Map<string, Tensor>;

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function tensor(shape: number[], data?: Float32Array): Tensor {
  const n = sizeOf(shape);
  if (data && data.length !== n)
    throw new RangeError(`tensor data has ${data.length} values for shape [${shape}]`);
  return { shape, data: data ?? new Float32Array(n) };
}

/** Transposes a 2-D tensor (PyTorch Linear weights are (out, in); MatMul wants (in, out)). */
export function transpose2d(t: Tensor): Tensor {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out };
}
