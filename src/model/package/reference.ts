import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { encodeNpy, parseNpy } from '../npy.js';
import { ModelError } from './errors.js';
import type { ModelManifest } from './manifest.js';
import { type ModelPackage, sha256Hex } from './model-package.js';

/**
 * A package's own acceptance test: fixed input windows (`reference.npy`) and the probabilities its
 * fp32 model gave for them when it was quantized. Whatever the CPU, execution provider or build
 * of onnxruntime, the package must give the same within `tolerance`: numerics that depend on the
 * instruction set are checked on the machine that runs them, not assumed.
 */
export type ReferenceSection = NonNullable<ModelManifest['reference']>;

export const REFERENCE_FILE = 'reference.npy';
/** Largest probability difference from fp32 an INT8 package may show on any CPU (issue 26's bound). */
export const REFERENCE_TOLERANCE = 0.05;

/** The bytes of reference.npy and its manifest section, from windows and fp32's answers to them. */
export function referenceOf(
  windows: Float32Array[],
  inputShape: number[],
  probabilities: Float32Array[],
  records: string[],
): { npy: Buffer; section: ReferenceSection } {
  const per = windows[0].length;
  const data = new Float32Array(windows.length * per);
  windows.forEach((w, i) => data.set(w, i * per));
  const npy = encodeNpy({ shape: [windows.length, ...inputShape.slice(1)], data });
  return {
    npy,
    section: {
      file: REFERENCE_FILE,
      sha256: sha256Hex(npy),
      from: 'fp32',
      records,
      tolerance: REFERENCE_TOLERANCE,
      probabilities: probabilities.map((p) => [...p].map((v) => Number(v.toFixed(6)))),
    },
  };
}

export interface ReferenceCheck {
  windows: number;
  /** Largest |p − p_fp32| over every window and class. */
  maxAbsDiff: number;
  /** Windows whose most probable class differs from fp32's. */
  flips: number;
  tolerance: number;
  /** What this machine gave, per window (for comparing machines with each other). */
  probabilities: number[][];
  withinTolerance: boolean;
}

/** Reads the package's reference windows (sha256 checked), or null if it has none. */
export async function referenceWindows(pkg: ModelPackage): Promise<Float32Array[] | null> {
  const ref = pkg.manifest.reference;
  if (!ref) return null;
  const file = join(pkg.dir, ref.file);
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new ModelError(`${file}: cannot read (${err.code ?? String(err)})`);
  });
  if (sha256Hex(bytes) !== ref.sha256)
    throw new ModelError(`${file}: sha256 does not match the manifest's (corrupt or replaced)`);
  const a = parseNpy(bytes, file);
  const per = pkg.manifest.input.shape.slice(1).reduce((x, y) => x * y, 1);
  if (a.shape[0] !== ref.probabilities.length || a.data.length !== a.shape[0] * per)
    throw new ModelError(
      `${file}: shape [${a.shape}] does not fit ${ref.probabilities.length} windows of the input`,
    );
  return ref.probabilities.map((_, i) => a.data.subarray(i * per, (i + 1) * per));
}

/** Runs the reference windows through an opened session of the package and compares with fp32's answers. */
export async function checkReference(
  pkg: ModelPackage,
  session: ort.InferenceSession,
): Promise<ReferenceCheck | null> {
  const windows = await referenceWindows(pkg);
  const ref = pkg.manifest.reference;
  if (!windows || !ref) return null;
  const m = pkg.manifest;
  const argmax = (p: ArrayLike<number>) => Array.prototype.indexOf.call(p, Math.max(...Array.from(p)));
  let maxAbsDiff = 0;
  let flips = 0;
  const probabilities: number[][] = [];
  for (const [i, w] of windows.entries()) {
    const input = new ort.Tensor('float32', Float32Array.from(w), m.input.shape);
    const out = (await session.run({ [m.input.tensor]: input }, [m.outputs.probabilities]))[
      m.outputs.probabilities
    ].data as Float32Array;
    const expected = ref.probabilities[i];
    for (let c = 0; c < expected.length; c++)
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(out[c] - expected[c]));
    if (argmax(out) !== argmax(expected)) flips++;
    probabilities.push([...out]);
  }
  return {
    windows: windows.length,
    maxAbsDiff,
    flips,
    tolerance: ref.tolerance,
    probabilities,
    withinTolerance: maxAbsDiff <= ref.tolerance,
  };
}

/** "8 reference windows: largest difference from fp32 0.0041 (bound 0.05), 0 flips". */
export const describeReference = (r: ReferenceCheck): string =>
  `${r.windows} reference windows: largest difference from fp32 ${r.maxAbsDiff.toFixed(4)} (bound ${r.tolerance}), ${r.flips} top-class flips`;
