import { InvalidArgumentError } from 'commander';

/** `500ms`, `5s`, `2m`, or a bare number of seconds → milliseconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a duration such as 500ms, 5s or 2m');
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = unit === 'ms' ? amount : unit === 's' ? amount * 1000 : amount * 60_000;
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) throw new InvalidArgumentError('duration too long');
  return Math.round(ms);
}

/** A whole number in [min, max]. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a whole number');
    const n = Number(value);
    if (n < min || n > max)
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
    return n;
  };
}

/** `65536`, `64k`, `16m`, `1g` (binary units) → bytes. */
export function parseBytes(value: string): number {
  const match = /^(\d+)([kmg])?i?b?$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a size such as 65536, 64k or 16m');
  const units: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  const scale = units[(match[2] ?? '').toLowerCase()] ?? 1;
  const bytes = Number(match[1]) * scale;
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('size too large');
  return bytes;
}
