/**
 * Whether the pipeline is alive, for the systemd watchdog and /healthz: samples arriving (or the
 * source honestly reporting silence or disconnection, which it retries on its own) and inference
 * not stuck. `tick()` is called on a timer; the clock is injectable for tests.
 */
export class Liveness {
  alive = true;
  private lastSamples = -1;
  private lastChange: number;
  private busySince = 0;

  constructor(
    private readonly o: {
      samples: () => number;
      sourceConnected: () => boolean;
      inferenceBusy: () => boolean;
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
    const flowing = !this.o.sourceConnected() || now - this.lastChange <= 2 * this.o.silenceMs;
    this.busySince = this.o.inferenceBusy() ? this.busySince || now : 0;
    const stuck = this.busySince > 0 && now - this.busySince > (this.o.stuckMs ?? 5000);
    const was = this.alive;
    this.alive = flowing && !stuck;
    return was && !this.alive;
  }
}
