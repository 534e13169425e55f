/** Latency summaries for the benchmarks. */

/** The nearest-rank percentile (`p` in 0..100) of `samples`, or 0 when there are none. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = samples.toSorted((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
