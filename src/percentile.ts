/** Nearest-rank percentile (q in 0-1) of values sorted ascending; NaN when there are none. */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  return n ? sorted[Math.min(n - 1, Math.floor(q * n))] : Number.NaN;
}
