import { PAIR_LIMIT } from './pair-safe.js';

/**
 * Hessian-aware rounding of a MatMul weight (GPTQ: Frantar et al., "GPTQ: Accurate Post-Training
 * Quantization for Generative Pre-trained Transformers", ICLR 2023). The input rows are rounded one
 * at a time and each row's rounding error is spread over the rows not yet rounded, weighted by the
 * inverse of the calibration inputs' Gram matrix H = XᵀX, so that XW changes least rather than W.
 * The pair limit (pair-safe.ts) is applied as rows are rounded, and what it takes off is
 * compensated by the rows after it, like any other rounding error.
 *
 * `w` is [K, N] (row-major, the MatMul's layout), `gram` the K×K Gram matrix of its inputs,
 * `scales` one per output column (chosen beforehand). Returns the int8 weight, [K, N].
 */
export function gptqQuantize(
  w: Float32Array,
  rows: number,
  cols: number,
  gram: Float64Array,
  scales: Float32Array,
  dampening = 0.01,
): Int8Array {
  const K = rows;
  const H = Float64Array.from(gram);
  const W = Float64Array.from(w);
  let meanDiag = 0;
  for (let i = 0; i < K; i++) meanDiag += H[i * K + i] / K;
  for (let i = 0; i < K; i++) {
    if (H[i * K + i] === 0) {
      // An input that calibration never saw nonzero: its weights cannot matter there.
      H[i * K + i] = 1;
      W.fill(0, i * cols, (i + 1) * cols);
    }
    H[i * K + i] += dampening * (meanDiag || 1);
  }
  const U = upperCholeskyOfInverse(H, K);
  const q = new Int8Array(K * cols);
  const err = new Float64Array(cols);
  for (let i = 0; i < K; i++) {
    const d = U[i * K + i];
    for (let n = 0; n < cols; n++) {
      const s = scales[n];
      let v = Math.max(-127, Math.min(127, Math.round(W[i * cols + n] / s)));
      if (i % 2 === 1) {
        const prev = q[(i - 1) * cols + n];
        if (Math.sign(prev) === Math.sign(v) && Math.abs(prev) + Math.abs(v) > PAIR_LIMIT) {
          v = Math.sign(v) * (PAIR_LIMIT - Math.abs(prev));
        }
      }
      q[i * cols + n] = v;
      err[n] = (W[i * cols + n] - v * s) / d;
    }
    for (let j = i + 1; j < K; j++) {
      const u = U[i * K + j];
      if (u === 0) continue;
      const row = j * cols;
      for (let n = 0; n < cols; n++) W[row + n] -= u * err[n];
    }
  }
  return q;
}

/** U, upper triangular, with Uᵀ U = H⁻¹ (H symmetric positive definite, K×K row-major). */
export function upperCholeskyOfInverse(H: Float64Array, K: number): Float64Array {
  const L = cholesky(H, K);
  // H⁻¹ = L⁻ᵀ L⁻¹, from L⁻¹ by forward substitution.
  const Li = new Float64Array(K * K);
  for (let c = 0; c < K; c++) {
    for (let r = c; r < K; r++) {
      let sum = r === c ? 1 : 0;
      for (let k = c; k < r; k++) sum -= L[r * K + k] * Li[k * K + c];
      Li[r * K + c] = sum / L[r * K + r];
    }
  }
  const inv = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let k = i; k < K; k++) sum += Li[k * K + i] * Li[k * K + j];
      inv[i * K + j] = sum;
      inv[j * K + i] = sum;
    }
  }
  const Linv = cholesky(inv, K);
  const U = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j <= i; j++) U[j * K + i] = Linv[i * K + j];
  return U;
}

/** Lower-triangular L with L Lᵀ = A. */
function cholesky(A: Float64Array, K: number): Float64Array {
  const L = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * K + j];
      const ri = i * K;
      const rj = j * K;
      for (let k = 0; k < j; k++) sum -= L[ri + k] * L[rj + k];
      if (i === j) {
        if (!(sum > 0)) throw new Error('Gram matrix not positive definite');
        L[ri + i] = Math.sqrt(sum);
      } else {
        L[ri + j] = sum / L[rj + j];
      }
    }
  }
  return L;
}
