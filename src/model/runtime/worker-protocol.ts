import type { GraphContract } from './contract.js';
import type { ProviderAttempt } from './session.js';

/** Messages between the inference engine (main thread) and its worker. */
export interface WorkerInit {
  onnx: Uint8Array;
  providers: string[];
  threads: number;
  spinning: boolean;
  outputs: string[];
  /** The input it is fed; checked against the graph once it is open, before the first run. */
  contract: GraphContract;
  /** The window is written here by the main thread before each `run` message. */
  input: SharedArrayBuffer;
  warmupRuns: number;
}

export type ToWorker = { type: 'run'; id: number } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; provider: string; skipped: ProviderAttempt[]; warmupMs: number }
  | { type: 'result'; id: number; outputs: Record<string, Float32Array>; inferenceNs: number }
  | { type: 'error'; id: number | null; message: string }
  /** The graph contradicts its manifest: nothing ran. */
  | { type: 'mismatch'; problems: string[] };
