import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import t from 'tap';
import { quantizeWeight } from '../src/model/quantize/qdq.js';
import { gptqQuantize, prepareHessian } from '../src/model/quantize/gptq.js';
import { PAIR_LIMIT, quantizeChannel } from '../src/model/quantize/pair-safe.js';
import { PROBE_BYTES, probeInt8Kernels } from '../src/model/runtime/int8-kernels.js';
import { gaussian } from '../src/model/rng.js';

const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

/** Same-sign pairs (GEMM positions 2j, 2j+1) whose magnitudes sum past the limit. */
function pairsOverLimit(q: ArrayLike<number>): number {
  let n = 0;
  for (let i = 1; i < q.length; i += 2) {
    if (Math.sign(q[i]) === Math.sign(q[i - 1]) && Math.abs(q[i]) + Math.abs(q[i - 1]) > PAIR_LIMIT) n++;
  }
  return n;
}

t.test(
  'a pair-safe channel: no same-sign pair past 128, every value in ±127, the rest rounded to nearest',
  async (t) => {
    await fc.assert(
      fc.property(
        fc.array(fc.float({ min: -1, max: 1, noNaN: true, noDefaultInfinity: true }), {
          minLength: 2,
          maxLength: 96,
        }),
        (values) => {
          const w = Float32Array.from(values);
          const q = new Int8Array(w.length);
          const { scale, clampedPairs } = quantizeChannel(w, q);
          if (pairsOverLimit(q) !== 0) return false;
          if (q.some((v) => Math.abs(v) > 127)) return false;
          // Outside the clamped pairs each value is its nearest step.
          let clamped = 0;
          for (let i = 0; i < w.length; i++) {
            const pair = i % 2 === 0 ? i + 1 : i - 1;
            const nearest = Math.max(-127, Math.min(127, Math.round(w[i] / scale)));
            const partner = pair < w.length ? Math.max(-127, Math.min(127, Math.round(w[pair] / scale))) : 0;
            const wasOver =
              pair < w.length &&
              Math.sign(nearest) === Math.sign(partner) &&
              Math.abs(nearest) + Math.abs(partner) > PAIR_LIMIT;
            if (wasOver) clamped++;
            else if (q[i] !== nearest) return false;
          }
          return clamped === 2 * clampedPairs;
        },
      ),
    );
  },
);

t.test(
  'a channel with no large same-sign pair keeps the full int8 resolution (scale max|w| / 127)',
  async (t) => {
    const w = Float32Array.of(1, -1, 0.5, 0.25, -0.3, 0.1);
    const q = new Int8Array(w.length);
    const r = quantizeChannel(w, q);
    t.equal(r.scale, 1 / 127);
    t.equal(r.clampedPairs, 0);
    t.same([...q], [127, -127, 64, 32, -38, 13]);
  },
);

t.test(
  'a MatMul weight [K, N] is pair-safe down each column; a Conv weight [O, I, k] over channels at one tap',
  async (t) => {
    const model = (name: string, dims: number[], data: Float32Array) => ({
      graph: { initializer: [{ name, dims, dataType: T.FLOAT, rawData: new Uint8Array(data.buffer) }] },
    });
    // MatMul: column 0 has 1, 1 at K 0 and 1 (one pair); column 1 has 1, 1 at K 1 and 2 (two pairs).
    const mm = Float32Array.of(1, 0, 1, 1, 0, 1, 0, 0);
    const m = quantizeWeight(onnx.ModelProto.fromObject(model('w', [4, 2], mm)), 'w', 'MatMul');
    const qm = new Int8Array(m.q.buffer);
    t.equal(pairsOverLimit([qm[0], qm[2], qm[4], qm[6]]), 0, 'column 0 is pair-safe down K');
    t.same([qm[3], qm[5]], [127, 127], 'column 1: K 1 and 2 are in different pairs, kept at full resolution');
    // Conv [1, 2, 2] as [c0k0, c0k1, c1k0, c1k1]. onnxruntime pairs (c0, k) with (c1, k), not (c0, k0) with (c0, k1).
    const conv = (data: number[]) =>
      new Int8Array(
        quantizeWeight(
          onnx.ModelProto.fromObject(model('c', [1, 2, 2], Float32Array.from(data))),
          'c',
          'Conv',
        ).q.buffer,
      );
    t.same([...conv([1, 1, -1, 0])], [127, 127, -127, 0], 'one channel at two taps is not a pair: untouched');
    const tap = conv([1, 0, 1, 0]);
    t.ok(
      Math.abs(tap[0]) + Math.abs(tap[2]) <= PAIR_LIMIT,
      `two channels at one tap are a pair: ${tap[0]} + ${tap[2]}`,
    );
  },
);

t.test('GPTQ keeps every pair safe and changes XW less than rounding to nearest does', async (t) => {
  const g = gaussian(7);
  const tokens = 1500;
  const K = 48;
  const N = 12;
  const X = new Float64Array(tokens * K);
  for (let i = 0; i < tokens; i++) {
    const common = g();
    for (let k = 0; k < K; k++) X[i * K + k] = g() + 0.7 * common; // correlated inputs, as activations are
  }
  const W = Float32Array.from({ length: K * N }, () => 0.05 * g());
  const gram = new Float64Array(K * K);
  for (let i = 0; i < tokens; i++)
    for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) gram[a * K + b] += X[i * K + a] * X[i * K + b];
  const model = {
    graph: {
      initializer: [{ name: 'w', dims: [K, N], dataType: T.FLOAT, rawData: new Uint8Array(W.buffer) }],
    },
  };
  const nearest = quantizeWeight(onnx.ModelProto.fromObject(model), 'w', 'MatMul');
  const coarse = nearest.scales.map((s) => 8 * s); // coarser steps make the rounding error plain
  const rtn = Int8Array.from(W, (w, i) => Math.max(-127, Math.min(127, Math.round(w / coarse[i % N]))));
  const gptq = gptqQuantize(W, N, prepareHessian(gram, K), coarse);
  const outputError = (q: Int8Array) => {
    let e = 0;
    for (let i = 0; i < tokens; i++)
      for (let n = 0; n < N; n++) {
        let d = 0;
        for (let k = 0; k < K; k++) d += X[i * K + k] * (W[k * N + n] - q[k * N + n] * coarse[n]);
        e += d * d;
      }
    return e;
  };
  for (let n = 0; n < N; n++) {
    const column = Array.from({ length: K }, (_, k) => gptq[k * N + n]);
    t.equal(pairsOverLimit(column), 0, `column ${n} pair-safe`);
  }
  t.ok(
    outputError(gptq) < 0.9 * outputError(rtn),
    `GPTQ ${outputError(gptq).toFixed(1)} vs nearest ${outputError(rtn).toFixed(1)}`,
  );
});

t.test('the INT8 kernel probe is the graph its comment describes, and measures this host', async (t) => {
  const m = onnx.ModelProto.decode(PROBE_BYTES());
  t.equal(m.graph!.node![0].opType, 'QLinearMatMul');
  const b = m.graph!.initializer!.find((i) => i.name === 'b')!;
  t.same(b.dims!.map(Number), [8, 2]);
  const w = new Int8Array(b.rawData!.buffer, b.rawData!.byteOffset, 16);
  t.same([w[0], w[2], w[1], w[5]], [127, 127, 127, 127], 'column 0: K 0 and 1; column 1: K 0 and 2');
  const k = await probeInt8Kernels();
  t.equal(k.arch, process.arch);
  t.comment(`this host: ${k.family}, pair sums ${k.pairsSaturate ? 'saturate' : 'exact'}`);
  // /proc/cpuinfo and the probe must tell one story on real hardware.
  if (process.arch === 'x64' && !k.emulated && k.features.length > 0) {
    const vnni = k.features.some((f) => f.includes('vnni') || f === 'amx_int8');
    t.equal(k.pairsSaturate, !vnni, 'u8s8 pair sums saturate exactly where there is no VNNI');
  }
});
