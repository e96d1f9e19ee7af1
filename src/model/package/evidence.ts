import type { ModelManifest } from './manifest.js';

/** What a package's own figures say about whether it recognises anything. */
export interface Evidence {
  /** True when nothing shows that it does: seeded backbone, never measured, or CV within the baselines' reach. */
  none: boolean;
  /** One sentence for a person: doctor, inspect, the demo, the report. */
  text: string;
  /** The records its head was trained on (the report's in-sample caveat). */
  trainedOn: string[];
}

interface CvMetrics {
  meanAccuracy?: number;
  folds?: { accuracy?: number }[];
  pooledConfusion?: number[][];
  baselines?: { majorityAccuracy?: number };
}

/** The sample standard deviation of the folds' figures (0 for fewer than two). */
export function spreadOf(values: number[]): number {
  if (values.length < 2) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/**
 * Reads the manifest's own figures: grouped cross-validation accuracy, its spread over folds, and
 * the two baselines any classifier must beat (always answering the most frequent class; guessing
 * uniformly). Within one spread of the better baseline is no evidence either way.
 */
export function evidenceOf(m: ModelManifest): Evidence {
  const training = m.training as { records?: unknown } | null;
  const trainedOn = Array.isArray(training?.records) ? training.records.map(String) : [];
  const metrics = m.metrics as CvMetrics | null;
  const seeded = m.weights.source === 'seeded';
  const backbone = seeded ? 'its backbone is seeded (random), not pretrained, and ' : '';
  const acc = metrics?.meanAccuracy;
  if (acc === undefined) {
    return {
      none: true,
      text:
        m.weights.source === 'onnx'
          ? 'imported without figures: nothing here shows what it recognises (measure it with model eval on labelled drives)'
          : `${backbone}it was never trained or measured: this model shows no evidence of recognising anything`,
      trainedOn,
    };
  }
  const folds = (metrics?.folds ?? []).map((f) => f.accuracy).filter((a): a is number => a !== undefined);
  const spread = spreadOf(folds);
  const rows = metrics?.pooledConfusion?.map((r) => r.reduce((a, b) => a + b, 0)) ?? [];
  const total = rows.reduce((a, b) => a + b, 0);
  const majority = metrics?.baselines?.majorityAccuracy ?? (total > 0 ? Math.max(...rows) / total : 0);
  const uniform = 1 / m.labels.length;
  const baseline = Math.max(majority, uniform);
  const figures = `grouped-CV accuracy ${pct(acc)} ± ${pct(spread)} over ${folds.length} folds, against ${pct(majority)} for always answering the most frequent class and ${pct(uniform)} for guessing`;
  const none = seeded || acc <= baseline + spread;
  return {
    none,
    text: none
      ? `${backbone}${figures}: this model shows no evidence of recognising anything`
      : `${figures}: above both baselines by more than the spread`,
    trainedOn,
  };
}
