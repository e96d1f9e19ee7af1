import ort from 'onnxruntime-node';
import { decodeModel, encodeModel, initializer } from '../graph/onnx-edit.js';
import type { ModelManifest } from '../package/manifest.js';
import { loadModelPackage, ModelError, windowSpecOf, writeModelPackage } from '../package/model-package.js';
import { openSession } from '../runtime/session.js';
import { usableWindows } from '../train/labelled-windows.js';
import { REFERENCE_FILE, referenceOf } from '../package/reference.js';
import { gptqQuantize, type PreparedHessian, prepareHessian } from './gptq.js';
import { GramAccumulator } from './gram.js';
import {
  calibrationTensors,
  insertQdq,
  type QuantizedWeight,
  quantizeWeight,
  quantTargets,
  withExtraOutputs,
} from './qdq.js';

export interface QuantizeOptions {
  modelDir: string;
  /** Records whose usable windows calibrate the activation ranges. */
  calibration: string[];
  out: string;
  /** Calibration windows, spread evenly over the records' usable windows. */
  calibrationWindows?: number;
  /** Windows of the calibration records (disjoint from calibration) on which int8 is compared with fp32. */
  agreementWindows?: number;
  /** Records not used for calibration: int8 is compared with fp32 on their usable windows too. */
  heldOut?: string[];
  /** Activation range: the largest |x| seen, or this percentile of |x| per tensor (outliers clipped). */
  activationPercentile?: number;
  /** Each activation range is the calibration's range times this (default `DEFAULT_ACTIVATION_MARGIN`). */
  activationMargin?: number;
  /**
   * Weights (by name) whose MatMul or Conv stays fp32: the layers most sensitive to int8. By
   * default the projection of the conv features into the transformer (post_extract_proj) and the
   * positional conv (conv_pos): each alone cost most of what disagreement was left (chosen on
   * drive06's other windows and mitdb 100, 105, 123, 221; checked on bench quantize's seven
   * recordings: docs/benchmarks.md). Together they are about 5 % of a full-size model's MACs.
   */
  keepFp32?: RegExp | null;
  /** Weight rounding: to nearest, or GPTQ (the default: each MatMul's rounding error compensated). */
  rounding?: 'nearest' | 'gptq';
  threads?: number;
  log?: (line: string) => void;
}

export interface Agreement {
  windows: number;
  /** Share of windows where int8 and fp32 pick the same class. */
  top1: number;
  maxAbsProbabilityDiff: number;
  /**
   * Windows where fp32's two most probable classes lie within 0.02: a flip there means nothing, so
   * they are counted apart; `decisiveTop1` is the agreement over the others.
   */
  nearTies: number;
  decisiveTop1: number;
}

/** Agreement on the records int8 was not calibrated on, each and all together. */
export interface HeldOutAgreement extends Agreement {
  records: Record<string, Agreement>;
}

const NEAR_TIE = 0.02;
/** Windows a package carries for checking itself on the machine that runs it. */
const REFERENCE_WINDOWS = 8;
/**
 * Ranges a little inside the largest |x| calibration saw: the finer steps for every value buy more
 * than the rare clipped outlier costs. Chosen on the tuning records (drive06's other windows,
 * mitdb 100/105/123/221; worst probability difference at full size 0.063 / 0.044 / 0.031 / 0.046
 * / 0.112 for 1.2 / 1 / 0.9 / 0.8 / 0.7, demo size 0.016 at 1 and 0.021 at 0.9), never on the
 * seven recordings `bench quantize` reports.
 */
export const DEFAULT_ACTIVATION_MARGIN = 0.9;
export const DEFAULT_KEEP_FP32 = /^(post_extract_proj|conv_pos)\./;

/** Picks `n` items spread evenly, starting at `phase` (0..1) of a stride: disjoint sets for two phases. */
function spread<T>(items: T[], n: number, phase: number): T[] {
  const stride = Math.max(1, items.length / n);
  const out: T[] = [];
  for (let i = phase * stride; i < items.length && out.length < n; i += stride)
    out.push(items[Math.floor(i)]);
  return out;
}

/** Static INT8 (QDQ) from an fp32 package, calibrated on real windows; reports agreement with fp32. */
export async function quantizeModel(
  o: QuantizeOptions,
): Promise<{ manifest: ModelManifest; agreement: Agreement; heldOut: HeldOutAgreement | null }> {
  const log = o.log ?? (() => {});
  const pkg = await loadModelPackage(o.modelDir);
  const m = pkg.manifest;
  if (m.precision !== 'fp32') throw new ModelError(`${o.modelDir}: already ${m.precision}`);
  const spec = windowSpecOf(m);
  const all: Float32Array[] = [];
  for (const r of o.calibration) all.push(...(await usableWindows(r, spec)));
  if (all.length < 2) throw new ModelError(`calibration records hold ${all.length} usable windows`);
  const calib = spread(all, o.calibrationWindows ?? 128, 0);
  const check = spread(all, o.agreementWindows ?? 400, 0.5);
  log(`calibration: ${calib.length} windows; agreement: ${check.length} other windows`);

  const model = decodeModel(pkg.onnx);
  const keepFp32 = o.keepFp32 === undefined ? DEFAULT_KEEP_FP32 : o.keepFp32;
  const targets = quantTargets(model, keepFp32);
  const names = calibrationTensors(targets);
  const threads = o.threads ?? 0;
  const seen = new Map<string, number[]>(names.map((n) => [n, []]));
  // GPTQ needs each MatMul input's Gram matrix over the calibration windows.
  const gptq = (o.rounding ?? 'gptq') === 'gptq';
  const matmulInputs = new Map(
    targets.filter((t) => t.node.opType === 'MatMul').map((t) => [t.activation, weightRows(model, t.weight)]),
  );
  const grams = new GramAccumulator(threads);
  const calibSession = await openSession(encodeModel(withExtraOutputs(model, names)), {
    providers: ['cpu'],
    threads,
  });
  const feed = (w: Float32Array) => ({ [m.input.tensor]: new ort.Tensor('float32', w, m.input.shape) });
  for (const w of calib) {
    const r = await calibSession.session.run(feed(w), names);
    for (const n of names) {
      const d = r[n].data as Float32Array;
      // Per window: the largest |x|, or the chosen percentile of |x| (then the ranges are the mean).
      seen
        .get(n)!
        .push(o.activationPercentile === undefined ? maxAbs(d) : percentileAbs(d, o.activationPercentile));
      const k = matmulInputs.get(n);
      if (gptq && k !== undefined) await grams.add(n, d, k);
    }
  }
  await calibSession.session.release();
  const margin = o.activationMargin ?? DEFAULT_ACTIVATION_MARGIN;
  const ranges = new Map<string, number>(
    [...seen].map(([n, v]) => [
      n,
      margin *
        (o.activationPercentile === undefined ? Math.max(...v) : v.reduce((a, b) => a + b, 0) / v.length),
    ]),
  );
  // Without GPTQ, insertQdq rounds each weight to nearest (pair-safe) itself.
  const rounded = new Map<string, QuantizedWeight>();
  const hessians = new Map<string, PreparedHessian>(); // q, k and v read one input
  for (const t of gptq ? targets : []) {
    const gram = grams.get(t.activation);
    if (t.node.opType !== 'MatMul' || !gram) continue;
    const nearest = quantizeWeight(model, t.weight, 'MatMul');
    const w = initializer(model, t.weight);
    let hessian = hessians.get(t.activation);
    if (!hessian) hessians.set(t.activation, (hessian = prepareHessian(gram, w.shape[0])));
    const q = gptqQuantize(w.data, w.shape[1], hessian, nearest.scales);
    rounded.set(t.weight, { ...nearest, q: new Uint8Array(q.buffer) });
  }
  if (gptq) log(`GPTQ rounding of ${rounded.size} MatMul weights`);
  await grams.release();
  const quantized = encodeModel(insertQdq(model, ranges, keepFp32, rounded));
  const count = (op: string) => targets.filter((t) => t.node.opType === op).length;
  log(
    `quantized ${count('MatMul')} MatMuls and ${count('Conv')} Convs (int8 weights per output channel, int8 activations per tensor)`,
  );

  const compareOn = (windows: Float32Array[]) =>
    compare(pkg.onnx, quantized, windows, feed, m.outputs.probabilities, threads);
  const agreement = await compareOn(check);
  log(`int8 vs fp32 on the calibration records' other windows: ${describe(agreement)}`);
  let heldOut: HeldOutAgreement | null = null;
  if (o.heldOut?.length) {
    const records: Record<string, Agreement> = {};
    for (const r of o.heldOut) {
      const w = spread(await usableWindows(r, spec), o.agreementWindows ?? 400, 0);
      const name = r.split('/').pop()!;
      records[name] = await compareOn(w);
      log(`int8 vs fp32 on ${name} (not calibrated on): ${describe(records[name])}`);
    }
    heldOut = { ...pooled(Object.values(records)), records };
    log(`int8 vs fp32 on every record not calibrated on: ${describe(heldOut)}`);
  }
  // The package's own acceptance test on any machine: fixed windows and fp32's answers (reference.ts).
  const referenceInputs = spread(check, REFERENCE_WINDOWS, 0.25);
  const reference = referenceOf(
    referenceInputs,
    m.input.shape,
    await answers(pkg.onnx, referenceInputs, feed, m.outputs.probabilities, threads),
    o.calibration.map((r) => r.split('/').pop()!),
  );
  const manifest = await writeModelPackage(
    o.out,
    quantized,
    {
      ...m,
      precision: 'int8',
      reference: reference.section,
      metrics: {
        ...(m.metrics ?? {}),
        quantization: {
          scheme: `QDQ, symmetric int8 (zero point 0), per-channel weights (pair-safe, ${gptq ? 'GPTQ' : 'nearest'} rounding), per-tensor activations (${o.activationPercentile === undefined ? 'max-abs' : `mean over windows of the ${o.activationPercentile}th percentile of |x|`}${margin !== 1 ? ` × ${margin}` : ''})${keepFp32 ? `; kept fp32: ${keepFp32.source}` : ''}`,
          calibrationRecords: o.calibration.map((r) => r.split('/').pop()),
          calibrationWindows: calib.length,
          agreementWindows: agreement.windows,
          top1Agreement: agreement.top1,
          maxAbsProbabilityDiff: agreement.maxAbsProbabilityDiff,
          ...(heldOut && { heldOut }),
        },
      },
      provenance: { ...m.provenance, builtAt: new Date().toISOString() },
    },
    { [REFERENCE_FILE]: reference.npy },
  );
  return { manifest, agreement, heldOut };
}

/** Several recordings' agreement as one, from their counts (no window is run twice). */
export function pooled(parts: Agreement[]): Agreement {
  const sum = (f: (a: Agreement) => number) => parts.reduce((n, a) => n + f(a), 0);
  const windows = sum((a) => a.windows);
  const nearTies = sum((a) => a.nearTies);
  const decisive = windows - nearTies;
  return {
    windows,
    top1: Math.round(sum((a) => a.top1 * a.windows)) / windows,
    maxAbsProbabilityDiff: Math.max(...parts.map((a) => a.maxAbsProbabilityDiff)),
    nearTies,
    decisiveTop1:
      decisive > 0 ? Math.round(sum((a) => a.decisiveTop1 * (a.windows - a.nearTies))) / decisive : 1,
  };
}

const describe = (a: Agreement) =>
  `top-1 agreement ${(100 * a.top1).toFixed(2)} % over ${a.windows} windows (${(100 * a.decisiveTop1).toFixed(2)} % over the ${a.windows - a.nearTies} whose fp32 top two differ by more than ${NEAR_TIE}), largest probability difference ${a.maxAbsProbabilityDiff.toFixed(4)}`;

/** A weight's first dimension (a MatMul weight's K), read from the initializer's dims. */
function weightRows(model: ReturnType<typeof decodeModel>, name: string): number {
  return Number(model.graph!.initializer!.find((i) => i.name === name)!.dims![0]);
}

function maxAbs(d: Float32Array): number {
  let max = 0;
  for (let i = 0; i < d.length; i++) max = Math.max(max, Math.abs(d[i]));
  return max;
}

function percentileAbs(d: Float32Array, p: number): number {
  const a = Float32Array.from(d, Math.abs).sort();
  return a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))];
}

/** What a graph gives for each window (its probabilities output). */
async function answers(
  onnx: Uint8Array,
  windows: Float32Array[],
  feed: (w: Float32Array) => Record<string, ort.Tensor>,
  output: string,
  threads: number,
): Promise<Float32Array[]> {
  const s = await openSession(onnx, { providers: ['cpu'], threads });
  const out: Float32Array[] = [];
  for (const w of windows) out.push((await s.session.run(feed(w), [output]))[output].data as Float32Array);
  await s.session.release();
  return out;
}

async function compare(
  fp32: Uint8Array,
  int8: Uint8Array,
  windows: Float32Array[],
  feed: (w: Float32Array) => Record<string, ort.Tensor>,
  output: string,
  threads: number,
): Promise<Agreement> {
  const a = await openSession(fp32, { providers: ['cpu'], threads });
  const b = await openSession(int8, { providers: ['cpu'], threads });
  let same = 0;
  let maxDiff = 0;
  let nearTies = 0;
  let decisiveSame = 0;
  const argmax = (p: Float32Array) => p.indexOf(Math.max(...p));
  for (const w of windows) {
    const pa = (await a.session.run(feed(w), [output]))[output].data as Float32Array;
    const pb = (await b.session.run(feed(w), [output]))[output].data as Float32Array;
    const agree = argmax(pa) === argmax(pb);
    if (agree) same++;
    const [first, second] = [...pa].sort((x, y) => y - x);
    if (first - second <= NEAR_TIE) nearTies++;
    else if (agree) decisiveSame++;
    for (let i = 0; i < pa.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pa[i] - pb[i]));
  }
  await a.session.release();
  await b.session.release();
  const decisive = windows.length - nearTies;
  return {
    windows: windows.length,
    top1: same / windows.length,
    maxAbsProbabilityDiff: maxDiff,
    nearTies,
    decisiveTop1: decisive > 0 ? decisiveSame / decisive : 1,
  };
}
