/**
 * Symmetric int8 weights that every CPU kernel multiplies exactly.
 *
 * On x86-64 without VNNI (AVX2, AVX-512BW), onnxruntime shifts the symmetric int8 activations to
 * uint8 (+128) and multiplies them by the int8 weights with `vpmaddubsw`, which adds the products
 * at GEMM positions 2j and 2j+1 into a *saturating* int16. With u8 up to 255 a pair of
 * same-sign weights whose magnitudes sum past 128 can overflow 32767 and is clamped; VNNI,
 * arm64's dot products and TensorRT accumulate in int32 and never clamp. Holding every same-sign
 * pair to |q₀| + |q₁| ≤ 128 (255 · 128 = 32640) makes all of them compute the same integers.
 * Opposite-sign pairs cannot overflow (255 · 127 < 32767). The pairing was measured
 * (test/quantize-pairs.test.ts): MatMul weights [K, N] pair along K; Conv weights [O, I/g, k]
 * pair along the input channels at one kernel tap (onnxruntime packs the conv as taps × channels).
 */
export const PAIR_LIMIT = 128;
const QMAX = 127;
/** Candidate scales tried per channel between max|w|/127 and the scale that needs no clamping. */
const SCALE_STEPS = 16;

export interface QuantizedChannel {
  scale: number;
  /** Same-sign pairs pulled back to the limit at the chosen scale. */
  clampedPairs: number;
}

/**
 * Quantizes one output channel's weights, given in GEMM order (pairs are elements 2j, 2j+1),
 * into `q`: the scale with the least squared error among those from max|w|/127 (the most
 * resolution, some pairs pulled back) to the one at which no pair needs it.
 */
export function quantizeChannel(w: Float32Array, q: Int8Array): QuantizedChannel {
  let maxAbs = 0;
  let maxPair = 0;
  for (let i = 0; i < w.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(w[i]));
    if (i % 2 === 1 && Math.sign(w[i]) === Math.sign(w[i - 1])) {
      maxPair = Math.max(maxPair, Math.abs(w[i]) + Math.abs(w[i - 1]));
    }
  }
  if (maxAbs === 0) {
    q.fill(0);
    return { scale: 1, clampedPairs: 0 };
  }
  const finest = maxAbs / QMAX;
  const safe = Math.max(finest, maxPair / PAIR_LIMIT);
  let best = { scale: finest, error: Infinity };
  for (let s = 0; s <= SCALE_STEPS; s++) {
    const scale = finest * (safe / finest) ** (s / SCALE_STEPS);
    const error = roundPairSafe(w, scale, q).error;
    if (error < best.error) best = { scale, error };
    if (safe === finest) break;
  }
  return { scale: best.scale, clampedPairs: roundPairSafe(w, best.scale, q).clampedPairs };
}

/** Rounds `w / scale` to int8 in `q`, then pulls each same-sign pair over the limit back onto it. */
function roundPairSafe(
  w: Float32Array,
  scale: number,
  q: Int8Array,
): { error: number; clampedPairs: number } {
  let error = 0;
  let clampedPairs = 0;
  for (let i = 0; i < w.length; i++) q[i] = Math.max(-QMAX, Math.min(QMAX, Math.round(w[i] / scale)));
  for (let i = 1; i < w.length; i += 2) {
    const a = q[i - 1];
    const b = q[i];
    if (Math.sign(a) !== Math.sign(b) || Math.abs(a) + Math.abs(b) <= PAIR_LIMIT) continue;
    // The nearest point of |x| + |y| = limit: both magnitudes lowered by the same amount.
    const xa = Math.abs(w[i - 1]) / scale;
    const xb = Math.abs(w[i]) / scale;
    const excess = (xa + xb - PAIR_LIMIT) / 2;
    const ma = Math.max(PAIR_LIMIT - QMAX, Math.min(QMAX, Math.round(xa - excess)));
    const sign = Math.sign(a);
    q[i - 1] = sign * ma;
    q[i] = sign * (PAIR_LIMIT - ma);
    clampedPairs++;
  }
  for (let i = 0; i < w.length; i++) error += (q[i] * scale - w[i]) ** 2;
  return { error, clampedPairs };
}
