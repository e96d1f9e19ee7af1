import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { DEMO_RECORD } from '../../paths.js';
import { InferenceEngine, runnableOf } from '../runtime/engine.js';
import { fixedDim, shapeOf } from '../runtime/contract.js';
import { openSession } from '../runtime/session.js';
import { labelledWindows } from '../train/labelled-windows.js';
import { ModelError } from './errors.js';
import type { ModelManifest } from './manifest.js';
import {
  loadModelPackage,
  sha256Hex,
  singleLeadInput,
  windowSpecOf,
  writeModelPackage,
} from './model-package.js';

export interface ImportOnnxOptions {
  file: string;
  out: string;
  name: string;
  /** One per value of the probabilities output, in its order. */
  labels?: string[];
  /** Output names by role; found by name (prob…, gate…, embed…) where not given. */
  probabilities?: string;
  gate?: string;
  layerEmbeddings?: string;
  /** For an input whose length is dynamic. */
  windowSamples?: number;
  hopSamples?: number;
  normalization: 'zscore' | 'none';
  notes?: string;
}

export interface ImportResult {
  manifest: ModelManifest;
  /** What the package gave for one real window (of the demo recording), by label. */
  check: Record<string, number>;
}

/** The output playing `role`: the one named by flag, else the one whose name says it. */
function outputFor(names: readonly string[], given: string | undefined, pattern: RegExp): string | undefined {
  if (given !== undefined) {
    if (!names.includes(given))
      throw new Error(`"${given}" is not an output (its outputs: ${names.join(', ')})`);
    return given;
  }
  return names.find((n) => pattern.test(n));
}

/** Reads an export's single input: [batch, 1 lead, samples]. */
function inputOf(session: InferenceSession, o: ImportOnnxOptions): { name: string; samples: number } {
  const inputs = session.inputNames;
  if (inputs.length !== 1)
    throw new Error(
      `the graph takes ${inputs.length} inputs (${inputs.join(', ')}); the daemon feeds one ECG window`,
    );
  const shape = shapeOf(session, 'input', inputs[0]);
  if (!shape || shape.length !== 3)
    throw new Error(`input "${inputs[0]}" is [${shape ?? '?'}]: export it as (batch, 1, samples)`);
  if (fixedDim(shape[1]) !== 1)
    throw new Error(
      `input "${inputs[0]}" takes ${shape[1]} leads: export the model for the one lead the car has (slice the first conv to that lead)`,
    );
  const samples = fixedDim(shape[2]) ?? o.windowSamples;
  if (!samples)
    throw new Error(`input "${inputs[0]}" has a dynamic length (${shape[2]}): give --window-samples`);
  if (o.windowSamples !== undefined && o.windowSamples !== samples)
    throw new Error(`--window-samples ${o.windowSamples} contradicts the graph's input length ${samples}`);
  return { name: inputs[0], samples };
}

/**
 * Wraps an ONNX export (e.g. `torch.onnx.export` of ECG-FM + NMoE) into a model package: finds
 * its input and the outputs the daemon needs, writes the manifest with the sha256, then loads the
 * package as the daemon would and runs one real window through it.
 */
export async function importOnnx(o: ImportOnnxOptions): Promise<ImportResult> {
  const onnx = await readFile(o.file).catch((err: NodeJS.ErrnoException) => {
    throw new ModelError(`${o.file}: cannot read (${err.code ?? err.message})`);
  });
  const fail = (why: string) => new ModelError(`${o.file}: ${why}`);
  const { session } = await openSession(onnx, { providers: ['cpu'], threads: 1 }).catch((err: Error) => {
    throw fail(`onnxruntime cannot load it (${err.message.replace(/^.*?cpu: /, '')})`);
  });
  let manifest: Omit<ModelManifest, 'sha256'>;
  try {
    const input = inputOf(session, o);
    const outs = session.outputNames;
    const probabilities =
      outputFor(outs, o.probabilities, /prob/i) ?? (outs.length === 1 ? outs[0] : undefined);
    if (!probabilities)
      throw new Error(
        `which output holds the probabilities? give --probabilities (its outputs: ${outs.join(', ')})`,
      );
    const gate = outputFor(outs, o.gate, /gate/i);
    const layerEmbeddings = outputFor(outs, o.layerEmbeddings, /embed/i);
    const classes = fixedDim(shapeOf(session, 'output', probabilities)?.at(-1));
    if (!o.labels)
      throw new Error(
        `give --labels: one name for each of the ${classes ?? 'N'} values of "${probabilities}"`,
      );
    if (classes !== null && classes !== o.labels.length)
      throw new Error(
        `--labels names ${o.labels.length} classes, output "${probabilities}" gives ${classes}`,
      );
    manifest = {
      schemaVersion: 1,
      name: o.name,
      version: '0.1.0',
      architecture: {
        kind: 'onnx-import',
        classes: o.labels.length,
        inputSamples: input.samples,
        inLeads: 1,
      },
      input: singleLeadInput(input.name, input.samples, {
        hopSamples: o.hopSamples,
        normalization: o.normalization,
      }),
      labels: o.labels,
      outputs: { probabilities, ...(gate && { gate }), ...(layerEmbeddings && { layerEmbeddings }) },
      precision: 'fp32',
      weights: { source: 'onnx', file: basename(o.file), sha256: sha256Hex(onnx) },
      training: null,
      metrics: null,
      provenance: {
        builtBy: 'ecg-emotiond model import',
        builtAt: new Date().toISOString(),
        ...(o.notes && { notes: o.notes }),
      },
    };
  } catch (err) {
    throw err instanceof ModelError ? err : fail((err as Error).message);
  } finally {
    await session.release();
  }
  const written = await writeModelPackage(o.out, onnx, manifest);
  return { manifest: written, check: await oneWindow(o.out) };
}

/** Loads the package as the daemon does and runs the first usable window of the demo recording. */
async function oneWindow(dir: string): Promise<Record<string, number>> {
  const pkg = await loadModelPackage(dir);
  const m = pkg.manifest;
  const segment = { record: DEMO_RECORD, name: 'import check', label: m.labels[0], startS: 0, endS: 60 };
  const [window] = await labelledWindows(DEMO_RECORD, [segment], windowSpecOf(m));
  if (!window) throw new ModelError(`${DEMO_RECORD}: no usable window to check the import with`);
  const engine = await InferenceEngine.start(runnableOf(pkg), {
    providers: ['cpu'],
    threads: 1,
    warmupRuns: 0,
  });
  try {
    const { probabilities } = await engine.infer(window.samples);
    const sum = probabilities.reduce((a, b) => a + b, 0);
    if (!probabilities.every((p) => p >= 0 && p <= 1) || Math.abs(sum - 1) > 1e-3)
      throw new ModelError(
        `${dir}: output "${m.outputs.probabilities}" is not probabilities (values ${[...probabilities].map((p) => p.toFixed(3))}, sum ${sum.toFixed(3)}): export softmax(logits)`,
      );
    return Object.fromEntries(m.labels.map((l, i) => [l, probabilities[i]]));
  } finally {
    await engine.close();
  }
}
