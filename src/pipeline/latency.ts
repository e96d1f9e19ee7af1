import { percentileOfSorted } from '../percentile.js';

/** Prometheus-style bucket bounds, ms. */
const BOUNDS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const RECENT = 2048;

/**
 * Latency of one pipeline stage in constant memory (a daemon runs for months): cumulative buckets
 * for /metrics, and the most recent values in a ring for percentiles.
 */
export class LatencyStats {
  readonly bounds = BOUNDS_MS;
  readonly buckets = new Float64Array(BOUNDS_MS.length + 1);
  count = 0;
  sumMs = 0;
  private readonly recent = new Float64Array(RECENT);

  record(ms: number): void {
    this.recent[this.count % RECENT] = ms;
    this.count++;
    this.sumMs += ms;
    let b = 0;
    while (b < BOUNDS_MS.length && ms > BOUNDS_MS[b]) b++;
    this.buckets[b]++;
  }

  /** Percentile (0-1) of the recent values; NaN when empty. */
  percentile(q: number): number {
    const n = Math.min(this.count, RECENT);
    return percentileOfSorted(this.recent.slice(0, n).sort(), q);
  }
}
