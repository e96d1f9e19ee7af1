import type { InferenceSession } from 'onnxruntime-node';
import type { ModelManifest } from '../package/manifest.js';

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

type Metadata = { name: string; isTensor?: boolean; shape?: readonly (number | string)[] };

/** A graph dimension: a number, or a symbolic name (dynamic) that any size matches. */
const fixed = (d: number | string) => (typeof d === 'number' && d > 0 ? d : null);

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
  // Shapes, where this onnxruntime reports them (1.20 and later).
  const meta = session as unknown as { inputMetadata?: Metadata[]; outputMetadata?: Metadata[] };
  const input = meta.inputMetadata?.find((m) => m.name === c.input);
  if (input?.shape) {
    const ok =
      input.shape.length === c.inputShape.length &&
      input.shape.every((d, i) => fixed(d) === null || fixed(d) === c.inputShape[i]);
    if (!ok)
      problems.push(`input "${c.input}" is [${input.shape}] in the graph, [${c.inputShape}] in the manifest`);
  }
  const probabilities = meta.outputMetadata?.find((m) => m.name === c.outputs[0]);
  const last = probabilities?.shape?.at(-1);
  if (c.classes !== null && last !== undefined && fixed(last) !== null && last !== c.classes)
    problems.push(`output "${c.outputs[0]}" gives ${last} values, the manifest has ${c.classes} labels`);
  return problems;
}
