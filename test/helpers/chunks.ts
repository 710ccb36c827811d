/**
 * Cuts a byte string (or text) at arbitrary offsets, as TCP may: the offsets
 * come from fast-check, are taken modulo the length, sorted and deduplicated.
 */
export function splitAt<T extends Buffer | string>(whole: T, cuts: readonly number[]): T[] {
  const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
  const out: T[] = [];
  let last = 0;
  for (const p of [...points, whole.length]) {
    // Each type's own method: `slice` on the union was reported deprecated (Buffer's) only in some lint runs.
    out.push((typeof whole === 'string' ? whole.slice(last, p) : whole.subarray(last, p)) as T);
    last = p;
  }
  return out;
}
