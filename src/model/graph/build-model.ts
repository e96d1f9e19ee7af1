import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { type ModelManifest } from '../package/manifest.js';
import { sha256Hex, singleLeadInput, writeModelPackage } from '../package/model-package.js';
import { type EcgFmArch, checkArch, ECGFM_FULL } from './arch.js';
import { type ArchFlags, archOfCheckpoint, encoderKeys } from './checkpoint-arch.js';
import { buildEcgFmGraph, IO } from './ecgfm-graph.js';
import { readSafetensors } from './safetensors.js';
import type { TensorMap } from './tensor.js';
import { DEFAULT_LABELS } from '../default-labels.js';
import { readTorchCheckpoint, type TorchCheckpoint } from './torch-checkpoint.js';
import { WeightError } from './weight-error.js';
import { canonicalEncoderWeights, headWeights, seededWeights } from './weights.js';

export interface BuildOptions {
  /**
   * The architecture, or what the checkpoint does not say when `weightsFile` is given; without it,
   * ECG-FM as released (and a checkpoint must say its heads).
   */
  arch?: EcgFmArch;
  /** Sizes given on the command line: with a checkpoint, refused where they contradict it. */
  flags?: ArchFlags;
  /** A fairseq-signals .pt or a .safetensors file; seeded weights when absent. */
  weightsFile?: string;
  seed: number;
  out: string;
  name: string;
  version?: string;
  labels?: string[];
  leadSlot?: number;
  hopSamples?: number;
  builtBy: string;
  notes?: string;
}

/** Reads a checkpoint by its extension: its tensors, and its cfg where it has one (.pt). */
export async function readWeights(file: string): Promise<TorchCheckpoint> {
  if (/\.safetensors$/i.test(file)) return { tensors: await readSafetensors(file), cfg: null };
  if (/\.(pt|pth|ckpt)$/i.test(file)) return readTorchCheckpoint(file);
  throw new WeightError(file, ['unknown weights format (expected .pt or .safetensors)']);
}

/** Builds the single-lead ECG-FM + NMoE graph and writes it as a model package. */
export async function buildModel(o: BuildOptions): Promise<ModelManifest> {
  const labels = o.labels ?? DEFAULT_LABELS;
  const checkpoint = o.weightsFile ? await readWeights(o.weightsFile) : null;
  const keys = checkpoint ? encoderKeys(checkpoint.tensors) : null;
  const chosen =
    checkpoint && keys
      ? archOfCheckpoint(keys.tensors, checkpoint.cfg, o.flags ?? {}, o.weightsFile!, o.arch)
      : { ...(o.arch ?? ECGFM_FULL), ...o.flags };
  const arch = { ...chosen, classes: labels.length };
  checkArch(arch);
  const seeded = seededWeights(arch, o.seed);
  let weights: TensorMap = seeded;
  let source: ModelManifest['weights'] = { source: 'seeded', seed: o.seed };
  if (o.weightsFile && keys) {
    const raw = keys.tensors;
    const encoder = canonicalEncoderWeights(raw, arch, o.weightsFile);
    const hasHead = [...raw.keys()].some((k) => k.startsWith('nmoe.'));
    const head = headWeights(hasHead ? raw : seeded, arch, o.weightsFile);
    weights = new Map([...encoder, ...head]);
    source = {
      source: 'checkpoint',
      file: basename(o.weightsFile),
      sha256: sha256Hex(await readFile(o.weightsFile)),
      headSeed: o.seed,
    };
  }
  const leadSlot = o.leadSlot ?? 0;
  const onnx = buildEcgFmGraph(arch, weights, { inputLeads: 1, leadSlot, samples: arch.inputSamples });
  return writeModelPackage(o.out, onnx, {
    schemaVersion: 1,
    name: o.name,
    version: o.version ?? '0.1.0',
    architecture: { kind: 'ecgfm-nmoe', ...arch },
    input: singleLeadInput(IO.input, arch.inputSamples, { hopSamples: o.hopSamples, leadSlot }),
    labels,
    outputs: { probabilities: IO.probabilities, gate: IO.gate, layerEmbeddings: IO.layerEmbeddings },
    precision: 'fp32',
    weights: source,
    training: null,
    metrics: null,
    provenance: {
      builtBy: o.builtBy,
      builtAt: new Date().toISOString(),
      ...(o.notes ? { notes: o.notes } : {}),
    },
  });
}
