import { percentileOfSorted } from '../percentile.js';

const now = () => process.hrtime.bigint();

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Waits for absolute deadlines on the monotonic clock, so timing errors never accumulate: a timer
 * sleeps until about 3 ms before the deadline (timers fire late by a millisecond or two), then the
 * thread blocks in a futex wait (Atomics.wait) for the rest: sub-millisecond accuracy with neither
 * spinning nor the garbage a polling loop makes (its GC pauses were the jitter).
 */
export async function waitUntil(deadlineNs: bigint): Promise<void> {
  const ahead = Number(deadlineNs - now()) / 1e6;
  if (ahead > 4) await new Promise((r) => setTimeout(r, ahead - 3));
  else await new Promise((r) => setImmediate(r)); // one event-loop turn: incoming bytes (commands) get read
  const rest = Number(deadlineNs - now()) / 1e6;
  if (rest > 0) Atomics.wait(sleeper, 0, 0, rest);
}

/** Lateness statistics of paced events, milliseconds. */
export class TimingStats {
  private readonly late: number[] = [];

  record(deadlineNs: bigint, actualNs: bigint): void {
    this.late.push(Number(actualNs - deadlineNs) / 1e6);
  }

  summary(): { events: number; latenessP50Ms: number; latenessP99Ms: number; latenessMaxMs: number } {
    const s = [...this.late].sort((a, b) => a - b);
    const p = (q: number) => (s.length ? percentileOfSorted(s, q) : 0);
    return { events: s.length, latenessP50Ms: p(0.5), latenessP99Ms: p(0.99), latenessMaxMs: s.at(-1) ?? 0 };
  }
}
