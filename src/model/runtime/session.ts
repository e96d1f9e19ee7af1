import ort from 'onnxruntime-node';

export interface ProviderAttempt {
  provider: string;
  reason: string;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: string;
  /** Providers tried before the one in use, with why each was skipped. */
  skipped: ProviderAttempt[];
}

export interface SessionOptions {
  /** Execution providers in priority order, e.g. ["tensorrt", "cuda", "cpu"]. */
  providers: string[];
  /** Intra-op threads (0: onnxruntime's default). */
  threads: number;
  /**
   * Let idle intra-op threads spin-wait for the next op (faster small ops, but burns CPU between
   * runs and steals it from anything else on the ECU). Off unless asked.
   */
  spinning?: boolean;
}

/**
 * Opens the model with the first execution provider that works, trying each one alone (a list
 * given to onnxruntime at once would silently fall back). Throws with every reason if none does.
 */
export async function openSession(onnx: Uint8Array, options: SessionOptions): Promise<OpenedSession> {
  ort.env.logLevel = 'fatal'; // the reasons are reported here, once, not by the native logger
  const skipped: ProviderAttempt[] = [];
  for (const provider of options.providers) {
    try {
      const session = await ort.InferenceSession.create(onnx, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: options.threads,
        interOpNumThreads: 1,
        logSeverityLevel: 4,
        extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } },
      });
      return { session, provider, skipped };
    } catch (err) {
      skipped.push({ provider, reason: ((err as Error).message ?? String(err)).split('\n')[0] });
    }
  }
  throw new Error(
    `no execution provider could load the model: ${skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}`,
  );
}

/** A provider whose libraries (or build) are simply not on this machine: expected off a Jetson. */
const ABSENT = /Failed to load shared library|backend not found/i;

/**
 * How the providers that were skipped should be reported: the ones absent from this machine in
 * one line (their raw errors are detail, not news), any that failed for another reason each on
 * its own, as a problem.
 */
export function describeSkipped(
  provider: string,
  skipped: ProviderAttempt[],
): { absent: string | null; failed: ProviderAttempt[] } {
  const absent = skipped.filter((s) => ABSENT.test(s.reason)).map((s) => s.provider);
  return {
    absent:
      absent.length > 0
        ? `inference runs on ${provider}: ${absent.join(' and ')} ${absent.length > 1 ? 'are' : 'is'} not available in this onnxruntime build or machine (no GPU libraries; hw/jetson/README.md)`
        : null,
    failed: skipped.filter((s) => !ABSENT.test(s.reason)),
  };
}
