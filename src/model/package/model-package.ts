import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WindowSpec } from '../../dsp/window-spec.js';
import { type ModelManifest, manifestProblems } from './manifest.js';
import { ModelError } from './errors.js';

export { ModelError };

export interface ModelPackage {
  dir: string;
  manifest: ModelManifest;
  /** The verified model.onnx bytes. */
  onnx: Uint8Array;
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Reads models/<name>/: validates manifest.json and refuses a model.onnx whose sha256 differs. */
export async function loadModelPackage(dir: string): Promise<ModelPackage> {
  const manifestFile = join(dir, 'manifest.json');
  const onnxFile = join(dir, 'model.onnx');
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelError(`${manifestFile}: ${code ? `cannot read (${code})` : 'not valid JSON'}`);
  }
  const problems = manifestProblems(manifest);
  if (problems.length > 0) throw new ModelError(`${manifestFile}: ${problems.join('; ')}`);
  const m = manifest as ModelManifest;
  let onnx: Buffer;
  try {
    onnx = await readFile(onnxFile);
  } catch (err) {
    throw new ModelError(`${onnxFile}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const actual = sha256Hex(onnx);
  if (actual !== m.sha256) {
    throw new ModelError(
      `${onnxFile}: sha256 ${actual} does not match the manifest's ${m.sha256} (corrupt or replaced model)`,
    );
  }
  return { dir, manifest: m, onnx };
}

/** Writes model.onnx, manifest.json (the manifest's sha256 set from the bytes) and any other files it names. */
export async function writeModelPackage(
  dir: string,
  onnx: Uint8Array,
  manifest: Omit<ModelManifest, 'sha256'>,
  files: Record<string, Uint8Array> = {},
): Promise<ModelManifest> {
  const full: ModelManifest = { ...manifest, sha256: sha256Hex(onnx) };
  const problems = manifestProblems(full);
  if (problems.length > 0) throw new ModelError(`manifest for ${dir}: ${problems.join('; ')}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), onnx);
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

/** A single-lead package's input: `samples`-long windows at 500 Hz, a quarter-window hop unless given. */
export function singleLeadInput(
  tensor: string,
  samples: number,
  o: { hopSamples?: number; leadSlot?: number; normalization?: 'zscore' | 'none' } = {},
): ModelManifest['input'] {
  return {
    tensor,
    shape: [1, 1, samples],
    sampleRateHz: 500,
    windowSamples: samples,
    hopSamples: o.hopSamples ?? Math.round(samples / 4),
    leadSlot: o.leadSlot ?? 0,
    normalization: o.normalization ?? 'zscore',
  };
}

/** The windower's spec comes from the model. */
export function windowSpecOf(m: ModelManifest): WindowSpec {
  return {
    sampleRateHz: m.input.sampleRateHz,
    windowSamples: m.input.windowSamples,
    hopSamples: m.input.hopSamples,
    normalization: m.input.normalization,
  };
}
