import type { InferenceSession } from 'onnxruntime-node';
import { ModelError } from '../package/errors.js';
import type { ModelManifest } from '../package/manifest.js';
import type { ModelPackage } from '../package/model-package.js';
import { type OpenedSession, openSession, type SessionOptions } from './session.js';

/** What a manifest promises about its graph: the one input and its shape, the outputs it names. */
export interface GraphContract {
  input: string;
  inputShape: number[];
  /** Every output the manifest names (probabilities first). */
  outputs: string[];
  /** Values the probabilities output gives: one per label (null: not known, as for a bare .onnx). */
  classes: number | null;
}

export const contractOf = (m: ModelManifest): GraphContract => ({
  input: m.input.tensor,
  inputShape: m.input.shape,
  outputs: [m.outputs.probabilities, m.outputs.gate, m.outputs.layerEmbeddings].filter(
    (name): name is string => name !== undefined,
  ),
  classes: m.labels.length,
});

type Dims = readonly (number | string)[];
type Metadata = { name: string; shape?: Dims };

/** A graph tensor's shape, where this onnxruntime reports it (1.20 and later). */
export function shapeOf(session: InferenceSession, kind: 'input' | 'output', name: string): Dims | undefined {
  const meta = session as unknown as { inputMetadata?: Metadata[]; outputMetadata?: Metadata[] };
  return (kind === 'input' ? meta.inputMetadata : meta.outputMetadata)?.find((m) => m.name === name)?.shape;
}

/** A graph dimension's size, or null for a symbolic (dynamic) one that any size matches. */
export const fixedDim = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : null);

/** A package whose manifest and graph disagree: one line naming the folder and each problem. */
export function mismatchError(source: string, problems: string[]): ModelError {
  return new ModelError(`${source}: manifest.json does not match model.onnx: ${problems.join('; ')}`);
}

/**
 * Where an opened graph contradicts its manifest, one phrase each (empty when it does not):
 * checked by every loader before a source opens, so a hand-made package fails in one line at
 * start, not at the first window.
 */
export function contractProblems(session: InferenceSession, c: GraphContract): string[] {
  const problems: string[] = [];
  const list = (names: readonly string[]) => names.map((n) => `"${n}"`).join(', ');
  if (session.inputNames.length !== 1)
    problems.push(
      `the graph takes ${session.inputNames.length} inputs (${list(session.inputNames)}); the daemon feeds one`,
    );
  if (!session.inputNames.includes(c.input))
    problems.push(`input "${c.input}" is not in the graph (its input: ${list(session.inputNames)})`);
  for (const name of c.outputs) {
    if (!session.outputNames.includes(name))
      problems.push(`output "${name}" is not in the graph (its outputs: ${list(session.outputNames)})`);
  }
  const input = shapeOf(session, 'input', c.input);
  if (input) {
    const ok =
      input.length === c.inputShape.length &&
      input.every((d, i) => fixedDim(d) === null || fixedDim(d) === c.inputShape[i]);
    if (!ok)
      problems.push(`input "${c.input}" is [${input}] in the graph, [${c.inputShape}] in the manifest`);
  }
  const last = shapeOf(session, 'output', c.outputs[0])?.at(-1);
  if (c.classes !== null && last !== undefined && fixedDim(last) !== null && last !== c.classes)
    problems.push(`output "${c.outputs[0]}" gives ${last} values, the manifest has ${c.classes} labels`);
  return problems;
}

/** Opens a package's graph and refuses it in one line (closed again) where it contradicts its manifest. */
export async function openCheckedSession(pkg: ModelPackage, options: SessionOptions): Promise<OpenedSession> {
  const opened = await openSession(pkg.onnx, options);
  const problems = contractProblems(opened.session, contractOf(pkg.manifest));
  if (problems.length === 0) return opened;
  await opened.session.release();
  throw mismatchError(pkg.dir, problems);
}
