/**
 * Whether the pipeline is alive, for the systemd watchdog and /healthz: samples arriving (or the
 * source honestly reporting silence or disconnection, which it retries on its own) and inference
 * not stuck. `tick()` is called on a timer; the clock is injectable for tests.
 */
export class Liveness {
  alive = true;
  /** Why it is not alive, in words for /healthz and the logs; null while alive. */
  problem: string | null = null;
  private lastSamples = -1;
  private lastChange: number;

  constructor(
    private readonly o: {
      samples: () => number;
      sourceConnected: () => boolean;
      /** How long the inference in flight has run, ms (0 when idle): one long run, not many short ones. */
      inferenceRunningMs: () => number;
      /** A connected source gets this long without samples before it counts as stalled. */
      silenceMs: number;
      /** One inference longer than this is stuck. */
      stuckMs?: number;
      now?: () => number;
    },
  ) {
    this.lastChange = this.now();
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Re-evaluates; returns true when the pipeline just stopped being alive. */
  tick(): boolean {
    const now = this.now();
    const samples = this.o.samples();
    if (samples !== this.lastSamples) this.lastChange = now;
    this.lastSamples = samples;
    const stalledMs = now - this.lastChange;
    const flowing = !this.o.sourceConnected() || stalledMs <= 2 * this.o.silenceMs;
    const runningMs = this.o.inferenceRunningMs();
    const stuck = runningMs > (this.o.stuckMs ?? 5000);
    const was = this.alive;
    this.alive = flowing && !stuck;
    this.problem = stuck
      ? `inference stuck: one window running for ${(runningMs / 1000).toFixed(1)} s`
      : flowing
        ? null
        : `no samples for ${(stalledMs / 1000).toFixed(1)} s from a source that says it is connected`;
    return was && !this.alive;
  }
}
