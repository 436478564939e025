// Order statistics over latency samples. Nearest-rank percentiles on a sorted copy:
// exact, and cheap enough for the few hundred thousand samples of one bench phase.

/** The p-th percentile (0..100) of ascending-sorted values by nearest rank; NaN when empty. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Sorts the array in place and summarises it. */
export function summarize(values: Float64Array): Summary {
  values.sort();
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return {
    count: values.length,
    p50: percentileOfSorted(values, 50),
    p90: percentileOfSorted(values, 90),
    p99: percentileOfSorted(values, 99),
    max: values.length === 0 ? Number.NaN : values[values.length - 1]!,
    mean: values.length === 0 ? Number.NaN : sum / values.length,
  };
}

/** Concatenates typed arrays into one. */
export function concatFloat64(parts: readonly Float64Array[]): Float64Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const all = new Float64Array(length);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

export function median(values: readonly number[]): number {
  return percentileOfSorted([...values].sort((a, b) => a - b), 50);
}
