import type { EcgFmArch } from '../graph/arch.js';
import type { GateKind } from '../graph/gate-graph.js';
import type { TensorMap } from '../graph/tensor.js';
import { uniform } from '../rng.js';

const BN_EPS = 1e-5;
const BN_MOMENTUM = 0.1;

export interface HeadShape {
  layers: number;
  dim: number;
  hidden: number;
  classes: number;
  gate?: GateKind;
}

/** One training example: the backbone's per-layer time-mean embeddings (layers × dim, row-major). */
export interface Example {
  embeddings: Float32Array;
  target: number;
}

/**
 * The NMoE gate and head on a frozen backbone, in float64 with hand-written backprop:
 * gate-weighted sum of the layer embeddings (see GateKind) → Dense → BatchNorm → ReLU → Dropout → Dense → softmax.
 * All trainable values live in one array (`params`) so the optimiser is one loop.
 */
export class NmoeHead {
  readonly shape: HeadShape;
  readonly params: Float64Array;
  readonly runningMean: Float64Array;
  readonly runningVar: Float64Array;
  // Views into params.
  readonly gate: Float64Array;
  /** The input gate's scoring vector u (D); empty for the static gate. */
  readonly gateProj: Float64Array;
  readonly w1: Float64Array;
  readonly b1: Float64Array;
  readonly gamma: Float64Array;
  readonly beta: Float64Array;
  readonly w2: Float64Array;
  readonly b2: Float64Array;

  constructor(shape: HeadShape, seed: number) {
    this.shape = shape;
    const { layers: L, dim: D, hidden: H, classes: C } = shape;
    const P = shape.gate === 'input' ? D : 0;
    this.params = new Float64Array(L + P + H * D + 3 * H + C * H + C);
    let o = 0;
    const take = (n: number) => {
      const v = this.params.subarray(o, o + n);
      o += n;
      return v;
    };
    this.gate = take(L);
    this.gateProj = take(P); // zeros: the input gate starts as the static one
    this.w1 = take(H * D);
    this.b1 = take(H);
    this.gamma = take(H);
    this.beta = take(H);
    this.w2 = take(C * H);
    this.b2 = take(C);
    this.runningMean = new Float64Array(H);
    this.runningVar = new Float64Array(H).fill(1);
    // As PyTorch: gate ones (the method's start), Linear U(±1/sqrt(fan_in)), BatchNorm identity.
    const rand = uniform(seed);
    const fill = (v: Float64Array, bound: number) => {
      for (let i = 0; i < v.length; i++) v[i] = (2 * rand() - 1) * bound;
    };
    this.gate.fill(1);
    fill(this.w1, 1 / Math.sqrt(D));
    fill(this.b1, 1 / Math.sqrt(D));
    this.gamma.fill(1);
    fill(this.w2, 1 / Math.sqrt(H));
    fill(this.b2, 1 / Math.sqrt(H));
  }

  /** The static gate's weights (for the input gate: its weights where every score E·u is 0). */
  gateWeights(): Float64Array {
    return softmax(this.gate);
  }

  /** The gate for one window's embeddings. */
  gateFor(e: Float32Array): Float64Array {
    const { layers: L, dim: D } = this.shape;
    if (this.gateProj.length === 0) return softmax(this.gate);
    const s = new Float64Array(L);
    for (let l = 0; l < L; l++) {
      let v = this.gate[l];
      for (let d = 0; d < D; d++) v += this.gateProj[d] * e[l * D + d];
      s[l] = v;
    }
    return softmax(s);
  }

  /**
   * Weighted cross-entropy of a batch and its gradient into `grad` (same layout as params).
   * Training mode: batch statistics for BatchNorm (running statistics updated when `updateStats`),
   * dropout with probability `dropout` drawn from `rand`.
   */
  lossAndGrad(
    batch: Example[],
    classWeights: Float64Array,
    grad: Float64Array,
    dropout = 0,
    rand: () => number = Math.random,
    updateStats = false,
  ): number {
    const { layers: L, dim: D, hidden: H, classes: C } = this.shape;
    const n = batch.length;
    if (n < 2) throw new RangeError('BatchNorm needs batches of at least 2');
    const inputGate = this.gateProj.length > 0;
    const g = softmax(this.gate);
    const gates = inputGate ? batch.map((e) => this.gateFor(e.embeddings)) : null;
    const f = new Float64Array(n * D);
    const h = new Float64Array(n * H);
    for (let i = 0; i < n; i++) {
      fuse(batch[i].embeddings, gates?.[i] ?? g, L, D, f, i * D);
      dense(this.w1, this.b1, f, i * D, D, H, h, i * H);
    }
    // BatchNorm over the batch (biased variance, as in training).
    const mean = new Float64Array(H);
    const variance = new Float64Array(H);
    for (let i = 0; i < n; i++) for (let j = 0; j < H; j++) mean[j] += h[i * H + j] / n;
    for (let i = 0; i < n; i++) for (let j = 0; j < H; j++) variance[j] += (h[i * H + j] - mean[j]) ** 2 / n;
    if (updateStats) {
      for (let j = 0; j < H; j++) {
        this.runningMean[j] = (1 - BN_MOMENTUM) * this.runningMean[j] + BN_MOMENTUM * mean[j];
        const unbiased = (variance[j] * n) / (n - 1);
        this.runningVar[j] = (1 - BN_MOMENTUM) * this.runningVar[j] + BN_MOMENTUM * unbiased;
      }
    }
    const invStd = variance.map((v) => 1 / Math.sqrt(v + BN_EPS));
    const xhat = new Float64Array(n * H);
    const r = new Float64Array(n * H); // after ReLU and dropout
    const dr = new Float64Array(n * H); // dr/dy: the dropout scale where the ReLU passes, else 0
    const keep = 1 / (1 - dropout);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < H; j++) {
        const k = i * H + j;
        xhat[k] = (h[k] - mean[j]) * invStd[j];
        const y = this.gamma[j] * xhat[k] + this.beta[j];
        const mask = dropout > 0 && rand() < dropout ? 0 : keep;
        dr[k] = y > 0 ? mask : 0;
        r[k] = y * dr[k];
      }
    }
    // Softmax cross-entropy, weighted mean as PyTorch's CrossEntropyLoss(weight=...).
    const dz = new Float64Array(n * C);
    let totalWeight = 0;
    for (let i = 0; i < n; i++) totalWeight += classWeights[batch[i].target];
    let loss = 0;
    const z = new Float64Array(C);
    for (let i = 0; i < n; i++) {
      dense(this.w2, this.b2, r, i * H, H, C, z, 0);
      const p = softmax(z);
      const t = batch[i].target;
      const cw = classWeights[t] / totalWeight;
      loss -= cw * Math.log(Math.max(p[t], 1e-300));
      for (let c = 0; c < C; c++) dz[i * C + c] = (p[c] - (c === t ? 1 : 0)) * cw;
    }
    // Backward.
    grad.fill(0);
    const G = this.views(grad);
    const dy = new Float64Array(n * H);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < C; c++) {
        const d = dz[i * C + c];
        G.b2[c] += d;
        for (let j = 0; j < H; j++) G.w2[c * H + j] += d * r[i * H + j];
      }
      for (let j = 0; j < H; j++) {
        const k = i * H + j;
        if (dr[k] === 0) continue;
        let s = 0;
        for (let c = 0; c < C; c++) s += this.w2[c * H + j] * dz[i * C + c];
        dy[k] = s * dr[k];
      }
    }
    const sumDx = new Float64Array(H);
    const sumDxX = new Float64Array(H);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < H; j++) {
        const k = i * H + j;
        G.gamma[j] += dy[k] * xhat[k];
        G.beta[j] += dy[k];
        const dx = dy[k] * this.gamma[j];
        sumDx[j] += dx;
        sumDxX[j] += dx * xhat[k];
      }
    }
    const dg = new Float64Array(L);
    const dgi = new Float64Array(L);
    const df = new Float64Array(D);
    for (let i = 0; i < n; i++) {
      df.fill(0);
      for (let j = 0; j < H; j++) {
        const k = i * H + j;
        const dx = dy[k] * this.gamma[j];
        const dh = (invStd[j] / n) * (n * dx - sumDx[j] - xhat[k] * sumDxX[j]);
        if (dh === 0) continue;
        G.b1[j] += dh;
        const row = j * D;
        for (let d = 0; d < D; d++) {
          G.w1[row + d] += dh * f[i * D + d];
          df[d] += dh * this.w1[row + d];
        }
      }
      const e = batch[i].embeddings;
      for (let l = 0; l < L; l++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += df[d] * e[l * D + d];
        dgi[l] = s;
        dg[l] += s;
      }
      if (gates) this.inputGateGrad(gates[i], dgi, e, G);
    }
    // The static gate is shared by the batch: one pass through its softmax, dw = g ⊙ (dg − g·dg).
    if (!gates) {
      let dot = 0;
      for (let l = 0; l < L; l++) dot += g[l] * dg[l];
      for (let l = 0; l < L; l++) G.gate[l] = g[l] * (dg[l] - dot);
    }
    return loss;
  }

  /** One window's share of the input gate's gradient: ds = g ⊙ (dg − g·dg) into w, ds·E into u. */
  private inputGateGrad(
    g: Float64Array,
    dg: Float64Array,
    e: Float32Array,
    G: { gate: Float64Array; gateProj: Float64Array },
  ): void {
    const { layers: L, dim: D } = this.shape;
    let dot = 0;
    for (let l = 0; l < L; l++) dot += g[l] * dg[l];
    for (let l = 0; l < L; l++) {
      const ds = g[l] * (dg[l] - dot);
      G.gate[l] += ds;
      for (let d = 0; d < D; d++) G.gateProj[d] += ds * e[l * D + d];
    }
  }

  /** Inference mode (running BatchNorm statistics, no dropout): class probabilities. */
  predict(embeddings: Float32Array): Float64Array {
    const { layers: L, dim: D, hidden: H, classes: C } = this.shape;
    const f = new Float64Array(D);
    const h = new Float64Array(H);
    fuse(embeddings, this.gateFor(embeddings), L, D, f, 0);
    dense(this.w1, this.b1, f, 0, D, H, h, 0);
    for (let j = 0; j < H; j++) {
      const y =
        (this.gamma[j] * (h[j] - this.runningMean[j])) / Math.sqrt(this.runningVar[j] + BN_EPS) +
        this.beta[j];
      h[j] = y > 0 ? y : 0;
    }
    const z = new Float64Array(C);
    dense(this.w2, this.b2, h, 0, H, C, z, 0);
    return softmax(z);
  }

  /** The head as the graph builder's `nmoe.*` tensors (BatchNorm unfolded; the builder folds it). */
  toTensors(): TensorMap {
    const { layers: L, dim: D, hidden: H, classes: C } = this.shape;
    const t = (shape: number[], v: Float64Array) => ({ shape, data: Float32Array.from(v) });
    return new Map([
      ['nmoe.gate', t([L], this.gate)],
      ...(this.gateProj.length ? [['nmoe.gate_proj', t([D, 1], this.gateProj)] as const] : []),
      ['nmoe.dense1.weight', t([H, D], this.w1)],
      ['nmoe.dense1.bias', t([H], this.b1)],
      ['nmoe.bn.weight', t([H], this.gamma)],
      ['nmoe.bn.bias', t([H], this.beta)],
      ['nmoe.bn.running_mean', t([H], this.runningMean)],
      ['nmoe.bn.running_var', t([H], this.runningVar)],
      ['nmoe.dense2.weight', t([C, H], this.w2)],
      ['nmoe.dense2.bias', t([C], this.b2)],
    ]);
  }

  /** The same named views over another array of params' layout (a gradient, an optimiser moment). */
  views(a: Float64Array) {
    const at = (v: Float64Array) => a.subarray(v.byteOffset / 8, v.byteOffset / 8 + v.length);
    return {
      gate: at(this.gate),
      gateProj: at(this.gateProj),
      w1: at(this.w1),
      b1: at(this.b1),
      gamma: at(this.gamma),
      beta: at(this.beta),
      w2: at(this.w2),
      b2: at(this.b2),
    };
  }
}

export function headShapeOf(arch: EcgFmArch, classes: number, gate: GateKind = 'static'): HeadShape {
  return { layers: arch.layers, dim: arch.dim, hidden: arch.headHidden, classes, gate };
}

function softmax(z: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < z.length; i++) max = Math.max(max, z[i]);
  const out = new Float64Array(z.length);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += out[i] = Math.exp(z[i] - max);
  for (let i = 0; i < z.length; i++) out[i] /= sum;
  return out;
}

function fuse(e: Float32Array, g: Float64Array, L: number, D: number, out: Float64Array, o: number): void {
  for (let d = 0; d < D; d++) out[o + d] = 0;
  for (let l = 0; l < L; l++) {
    const gl = g[l];
    for (let d = 0; d < D; d++) out[o + d] += gl * e[l * D + d];
  }
}

/** out[o..o+rows) = W (rows × cols) · x[xo..xo+cols) + b */
function dense(
  w: Float64Array,
  b: Float64Array,
  x: Float64Array,
  xo: number,
  cols: number,
  rows: number,
  out: Float64Array,
  o: number,
): void {
  for (let r = 0; r < rows; r++) {
    let s = b[r];
    const row = r * cols;
    for (let c = 0; c < cols; c++) s += w[row + c] * x[xo + c];
    out[o + r] = s;
  }
}
