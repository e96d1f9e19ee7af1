import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECGFM_FULL, type EcgFmArch } from '../model/graph/arch.js';
import { buildModel } from '../model/graph/build-model.js';
import { type Agreement, type HeldOutAgreement, quantizeModel } from '../model/quantize/quantize-model.js';
import { DEFAULT_TRAIN } from '../model/train/train-head.js';
import { trainModel } from '../model/train/train-model.js';
import { builtArch } from '../model/package/manifest.js';
import { loadModelPackage } from '../model/package/model-package.js';
import { DEMO_MODEL_DIR, sharedDataDir } from '../paths.js';
import { describeInt8Kernels, type Int8Kernels, probeInt8Kernels } from '../model/runtime/int8-kernels.js';
import { runModelBench } from './model.js';

/** Calibrated on drive06; compared with fp32 on these, none of them calibrated on. */
const HELD_OUT = [
  'drivedb/drive05',
  'mitdb/119',
  'mitdb/201',
  'mitdb/210',
  'mitdb/232',
  'nstdb/118e12',
  'nstdb/118e24',
];

export interface QuantizeBenchOptions {
  /** An fp32 package to quantize; without it one is built (seeded backbone, head trained on drive06). */
  model?: string;
  size?: 'demo' | 'full';
  /** Windows compared with fp32 per recording (400: all of them on most). Fewer under emulation. */
  windows?: number;
  runs?: number;
  log?: (line: string) => void;
}

export interface QuantizeBenchResult {
  model: string;
  calibration: string[];
  /** On the calibration recording's windows that did not calibrate. */
  calibrationOthers: Agreement;
  heldOut: HeldOutAgreement;
  int8P50Ms: number;
  fp32P50Ms: number;
  /** int8 / fp32 median session.run, same run, spinning threads. */
  speedRatio: number;
  /** The host's INT8 kernels (CPU features, and whether u8s8 pair sums saturate), measured. */
  kernels: Int8Kernels;
}

/**
 * INT8 as it holds beyond its calibration data: an fp32 package quantized on drive06, its top-1
 * agreement with fp32 on seven recordings it never saw (drivedb, MIT-BIH arrhythmias, noise
 * stress), and its speed against fp32.
 */
export async function runQuantizeBench(o: QuantizeBenchOptions = {}): Promise<QuantizeBenchResult> {
  const log = o.log ?? (() => {});
  const data = sharedDataDir();
  const kernels = await probeInt8Kernels();
  log(`INT8 kernels on this host: ${describeInt8Kernels(kernels)}`);
  const drive06 = join(data, 'drivedb', 'drive06');
  const dir = await mkdtemp(join(tmpdir(), 'ecg-bench-quantize-'));
  try {
    let fp32 = o.model;
    if (!fp32) {
      const seeded = join(dir, 'seeded');
      const labels = ['low', 'medium', 'high'];
      const arch = o.size === 'full' ? { ...ECGFM_FULL, classes: labels.length } : await demoArch();
      await buildModel({
        arch,
        seed: 1,
        out: seeded,
        name: 'bench-quantize',
        labels,
        builtBy: 'bench quantize',
      });
      fp32 = join(dir, 'fp32');
      // A trained head, as a deployed model has: drive06 without overlap keeps this quick.
      await trainModel({
        ...DEFAULT_TRAIN,
        modelDir: seeded,
        records: [drive06],
        labelColumn: 'stress',
        classes: labels,
        folds: 2,
        overlapPercent: 0,
        threads: 2,
        out: fp32,
      });
    }
    const int8 = join(dir, 'int8');
    const q = await quantizeModel({
      modelDir: fp32,
      calibration: [drive06],
      heldOut: HELD_OUT.map((r) => join(data, r)),
      agreementWindows: o.windows,
      out: int8,
      threads: 2,
      log,
    });
    const speed = await runModelBench({ model: int8, compare: [fp32], spinning: true, runs: o.runs ?? 40 });
    const result: QuantizeBenchResult = {
      model: o.model ?? `${o.size ?? 'demo'}-size, seeded backbone, head trained on drive06`,
      calibration: ['drive06'],
      calibrationOthers: q.agreement,
      heldOut: q.heldOut!,
      int8P50Ms: speed.p50Ms,
      fp32P50Ms: speed.compare[0].p50Ms,
      speedRatio: speed.compare[0].medianRatio,
      kernels,
    };
    const h = result.heldOut;
    log(
      `INT8 on ${HELD_OUT.length} recordings not calibrated on: top-1 agreement ${(100 * h.top1).toFixed(2)} % of ${h.windows} windows (${(100 * h.decisiveTop1).toFixed(2)} % of the ${h.windows - h.nearTies} not near-ties), largest probability difference ${h.maxAbsProbabilityDiff.toFixed(4)}`,
    );
    log(
      `INT8 / fp32 median session.run: ${result.int8P50Ms.toFixed(1)} / ${result.fp32P50Ms.toFixed(1)} ms (${result.speedRatio.toFixed(2)} x) on ${describeInt8Kernels(kernels)}`,
    );
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The shipped demo model's architecture, read from its manifest. */
async function demoArch(): Promise<EcgFmArch> {
  const { kind: _, ...arch } = builtArch((await loadModelPackage(DEMO_MODEL_DIR)).manifest, 'bench quantize');
  return arch;
}
