/** Statistics and number formatting shared by every bench: medians, spread, ratios. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Half the range of `values` relative to their median: a plain noise figure for a few runs. */
export function spread(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = median(values);
  if (!(m > 0)) return 0;
  return (Math.max(...values) - Math.min(...values)) / 2 / m;
}

/** 2.41 M, 81.2 k, 970 — three significant digits. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  // Thresholds just below 1e6 and 1e3: toPrecision(3) of 999.7 is "1.00e+3".
  if (value >= 999_500) return `${(value / 1e6).toPrecision(3)} M`;
  if (value >= 999.5) return `${(value / 1e3).toPrecision(3)} k`;
  return value.toPrecision(3);
}

export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 10 ** digits) return Math.round(value).toString();
  return value.toPrecision(digits);
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : 'n/a';
}

export function formatPercent(value: number): string {
  return `±${(value * 100).toFixed(1)}%`;
}

/** The median of what `pick` gives for each sample (undefined values skipped). */
export function medianOf<T>(
  samples: readonly T[] | undefined,
  pick: (sample: T) => number | undefined,
): number | undefined {
  if (!samples || samples.length === 0) return undefined;
  const values = samples.map(pick).filter((v): v is number => v !== undefined);
  return values.length === 0 ? undefined : median(values);
}
