import { PAIR_LIMIT } from './pair-safe.js';

/** What GPTQ needs of a MatMul input's statistics; shared by the MatMuls that read the same input. */
export interface PreparedHessian {
  K: number;
  /** Upper-triangular U with Uᵀ U = (H + λI)⁻¹. */
  U: Float64Array;
  /** Inputs calibration never saw nonzero: their weights cannot matter there. */
  dead: Uint8Array;
}

/** Dampens the Gram matrix (λ = `dampening` × its mean diagonal, as GPTQ does) and factors its inverse. */
export function prepareHessian(gram: Float64Array, K: number, dampening = 0.01): PreparedHessian {
  const H = Float64Array.from(gram);
  const dead = new Uint8Array(K);
  let meanDiag = 0;
  for (let i = 0; i < K; i++) meanDiag += H[i * K + i] / K;
  for (let i = 0; i < K; i++) {
    if (H[i * K + i] === 0) {
      H[i * K + i] = 1;
      dead[i] = 1;
    }
    H[i * K + i] += dampening * (meanDiag || 1);
  }
  return { K, U: upperCholeskyOfInverse(H, K), dead };
}

/**
 * Hessian-aware rounding of a MatMul weight (GPTQ: Frantar et al., "GPTQ: Accurate Post-Training
 * Quantization for Generative Pre-trained Transformers", ICLR 2023). The input rows are rounded one
 * at a time and each row's rounding error is spread over the rows not yet rounded, weighted by the
 * inverse of the calibration inputs' Gram matrix H = XᵀX, so that XW changes least rather than W.
 * The pair limit (pair-safe.ts) is applied as rows are rounded, and what it takes off is
 * compensated by the rows after it, like any other rounding error.
 *
 * `w` is [K, N] (row-major, the MatMul's layout), `hessian` from its inputs' Gram matrix,
 * `scales` one per output column (chosen beforehand). Returns the int8 weight, [K, N].
 */
export function gptqQuantize(
  w: Float32Array,
  cols: number,
  hessian: PreparedHessian,
  scales: Float32Array,
): Int8Array {
  const { K, U, dead } = hessian;
  const W = Float64Array.from(w);
  for (let i = 0; i < K; i++) if (dead[i]) W.fill(0, i * cols, (i + 1) * cols);
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

/**
 * U, upper triangular, with Uᵀ U = H⁻¹ (H symmetric positive definite, K×K row-major). With J the
 * order-reversing permutation, J H J = L Lᵀ gives H = Ũ Ũᵀ with Ũ = J L J upper, so H⁻¹ = Ũ⁻ᵀ Ũ⁻¹
 * and U = Ũ⁻¹: one Cholesky and one triangular inverse, every inner loop along a row.
 */
export function upperCholeskyOfInverse(H: Float64Array, K: number): Float64Array {
  const reversed = new Float64Array(K * K);
  for (let i = 0; i < K; i++)
    for (let j = 0; j < K; j++) reversed[i * K + j] = H[(K - 1 - i) * K + (K - 1 - j)];
  const L = cholesky(reversed, K);
  const Ut = new Float64Array(K * K); // Ũ = J L J
  for (let i = 0; i < K; i++) for (let j = i; j < K; j++) Ut[i * K + j] = L[(K - 1 - i) * K + (K - 1 - j)];
  // Row i of U = Ũ⁻¹ solves x Ũ = eᵢ, by forward substitution along Ũ's rows.
  const U = new Float64Array(K * K);
  const acc = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    acc.fill(0, i);
    for (let k = i; k < K; k++) {
      const x = ((k === i ? 1 : 0) - acc[k]) / Ut[k * K + k];
      U[i * K + k] = x;
      if (x === 0) continue;
      const row = k * K;
      for (let j = k + 1; j < K; j++) acc[j] += x * Ut[row + j];
    }
  }
  return U;
}

/** Lower-triangular L with L Lᵀ = A. */
function cholesky(A: Float64Array, K: number): Float64Array {
  const L = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    const ri = i * K;
    for (let j = 0; j <= i; j++) {
      const rj = j * K;
      let sum = A[ri + j];
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
