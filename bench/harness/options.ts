/** Command-line options every bench parses the same way. */

/** An integer flag in min..max (or `fallback` when absent); exits 2 on anything else. */
export function intOption(
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`expected an integer ${min}..${max}, got ${value}`);
    process.exit(2);
  }
  return n;
}
