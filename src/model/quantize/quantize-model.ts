import ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../graph/onnx-edit.js';
import type { ModelManifest } from '../package/manifest.js';
import { loadModelPackage, ModelError, windowSpecOf, writeModelPackage } from '../package/model-package.js';
import { openSession } from '../runtime/session.js';
import { usableWindows } from '../train/labelled-windows.js';
import { calibrationTensors, insertQdq, quantTargets, withExtraOutputs } from './qdq.js';

export interface QuantizeOptions {
  modelDir: string;
  /** Records whose usable windows calibrate the activation ranges. */
  calibration: string[];
  out: string;
  /** Calibration windows, spread evenly over the records' usable windows. */
  calibrationWindows?: number;
  /** Windows (disjoint from calibration) on which int8 is compared with fp32. */
  agreementWindows?: number;
  threads?: number;
  log?: (line: string) => void;
}

export interface Agreement {
  windows: number;
  /** Share of windows where int8 and fp32 pick the same class. */
  top1: number;
  maxAbsProbabilityDiff: number;
}

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
): Promise<{ manifest: ModelManifest; agreement: Agreement }> {
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
  const targets = quantTargets(model);
  const names = calibrationTensors(targets);
  const threads = o.threads ?? 0;
  const ranges = new Map<string, number>(names.map((n) => [n, 0]));
  const calibSession = await openSession(encodeModel(withExtraOutputs(model, names)), {
    providers: ['cpu'],
    threads,
  });
  const feed = (w: Float32Array) => ({ [m.input.tensor]: new ort.Tensor('float32', w, m.input.shape) });
  for (const w of calib) {
    const r = await calibSession.session.run(feed(w), names);
    for (const n of names) {
      const d = r[n].data as Float32Array;
      let max = ranges.get(n)!;
      for (let i = 0; i < d.length; i++) max = Math.max(max, Math.abs(d[i]));
      ranges.set(n, max);
    }
  }
  await calibSession.session.release();
  const quantized = encodeModel(insertQdq(model, ranges));
  const count = (op: string) => targets.filter((t) => t.node.opType === op).length;
  log(
    `quantized ${count('MatMul')} MatMuls and ${count('Conv')} Convs (int8 weights per output channel, int8 activations per tensor)`,
  );

  const agreement = await compare(pkg.onnx, quantized, check, feed, m.outputs.probabilities, threads);
  log(
    `int8 vs fp32: top-1 agreement ${(100 * agreement.top1).toFixed(2)} % over ${agreement.windows} windows, ` +
      `largest probability difference ${agreement.maxAbsProbabilityDiff.toFixed(4)}`,
  );
  const manifest = await writeModelPackage(o.out, quantized, {
    ...m,
    precision: 'int8',
    metrics: {
      ...(m.metrics ?? {}),
      quantization: {
        scheme: 'QDQ, symmetric int8 (zero point 0), per-channel weights, per-tensor activations (max-abs)',
        calibrationRecords: o.calibration.map((r) => r.split('/').pop()),
        calibrationWindows: calib.length,
        agreementWindows: agreement.windows,
        top1Agreement: agreement.top1,
        maxAbsProbabilityDiff: agreement.maxAbsProbabilityDiff,
      },
    },
    provenance: { ...m.provenance, builtAt: new Date().toISOString() },
  });
  return { manifest, agreement };
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
  const argmax = (p: Float32Array) => p.indexOf(Math.max(...p));
  for (const w of windows) {
    const pa = (await a.session.run(feed(w), [output]))[output].data as Float32Array;
    const pb = (await b.session.run(feed(w), [output]))[output].data as Float32Array;
    if (argmax(pa) === argmax(pb)) same++;
    for (let i = 0; i < pa.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pa[i] - pb[i]));
  }
  await a.session.release();
  await b.session.release();
  return { windows: windows.length, top1: same / windows.length, maxAbsProbabilityDiff: maxDiff };
}
