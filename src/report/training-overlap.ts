import { recordName } from '../records/open.js';

export type Overlap = 'in-sample' | 'held-out' | 'live' | 'unknown';

/**
 * Whether the windows of a run were in the model's training data: the played recording (or the
 * one it was cut from) against the records the manifest says its head was trained on. Agreement
 * with labels means something only on held-out windows, so the report says which in its figure.
 */
export function trainingOverlap(o: {
  model: string;
  /** The manifest's training records. */
  trainedOn?: string[];
  source: string;
  record?: string;
  origin?: string;
}): { kind: Overlap; text: string } {
  const { model } = o;
  if (!o.record) return { kind: 'live', text: `live ECG (${o.source}): not in ${model}'s training data` };
  const name = o.origin ?? recordName(o.record);
  const trained = o.trainedOn ?? [];
  if (!trained.length)
    return {
      kind: 'unknown',
      text: `${model}'s manifest names no training records: ${name} may be in its training data`,
    };
  const on = `trained on ${trained.join(', ')}`;
  return trained.includes(name)
    ? { kind: 'in-sample', text: `in-sample: ${name} is in ${model}'s training data (${on})` }
    : { kind: 'held-out', text: `held-out: ${name} is not in ${model}'s training data (${on})` };
}
