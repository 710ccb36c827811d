/**
 * The mutator of the fuzz loop (docs/RELIABILITY.md, "Fuzzing"): byte-level
 * mutations in the libFuzzer style plus JSON-aware ones for header parsers.
 * Everything is driven by a seeded PRNG, so a run is reproducible from its seed.
 */

/** mulberry32: small, fast, good enough to drive mutations; never crypto. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uint32. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  chance(oneIn: number): boolean {
    return this.below(oneIn) === 0;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.below(items.length)] as T;
  }
}

/** FNV-1a over the bytes: a stable per-input seed (chunk boundaries replay identically). */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** Cuts `input` into random chunks drawn from `rng` (sizes biased small, some empty). */
export function randomChunks(input: Buffer, rng: Rng): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < input.length) {
    const size = rng.chance(8)
      ? 0
      : rng.chance(2)
        ? 1 + rng.below(5)
        : 1 + rng.below(Math.max(1, input.length - off));
    out.push(input.subarray(off, off + size));
    off += size;
  }
  return out;
}

/** 32-bit values that break length handling: zero, sign bit, all ones, the limits ±1. */
export const INTERESTING_U32: readonly number[] = [
  0,
  1,
  3,
  4,
  5,
  0x7f,
  0x80,
  0xff,
  0x100,
  0xffff,
  0x1_0000,
  64 * 1024 - 1,
  64 * 1024,
  64 * 1024 + 1,
  16 * 1024 * 1024 - 1,
  16 * 1024 * 1024,
  16 * 1024 * 1024 + 1,
  0x7fff_ffff,
  0x8000_0000,
  0xffff_fffe,
  0xffff_ffff,
];

const INTERESTING_U8: readonly number[] = [
  0x00, 0x01, 0x0a, 0x0d, 0x22, 0x2f, 0x5c, 0x7b, 0x7f, 0x80, 0xc0, 0xe2, 0xef, 0xfe, 0xff,
];

/** Tokens that matter to the parsers under test, spliced in whole. */
const DICTIONARY: readonly string[] = [
  '{',
  '}',
  '[',
  ']',
  '"',
  ':',
  ',',
  '\\u0000',
  '\\ud800',
  '"__proto__"',
  '"constructor"',
  '"type"',
  '"size"',
  '"run"',
  '"argv"',
  '"env"',
  '"msg"',
  '"ack"',
  '"id"',
  '"text"',
  '"join"',
  '"say"',
  '"put"',
  '"name"',
  '"file_name"',
  '"file_size"',
  '"../"',
  '1e400',
  '-0',
  '9007199254740993',
  'null',
  'true',
  '\r\n',
  '\n',
  '/nick ',
  '/join #',
  '/msg ',
  '//',
  '%Y',
  '%',
  '\u202e',
  '\u00ad',
  '\ufeff',
  'ＣＯＮ',
  '．．',
];

/** JSON values that break validators: wrong types, edge numbers, prototype keys, big strings. */
const INTERESTING_JSON: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  -0,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  1e308,
  '',
  '10',
  '\u0000',
  '..',
  '../../etc/passwd',
  'a'.repeat(300),
  'x'.repeat(5000),
  '\ud800',
  '/bin/sh',
  [],
  [''],
  ['a', '\u0000b'],
  {},
  { __proto__x: 1 },
  { LD_PRELOAD: '/tmp/x.so' },
];

function clampLength(out: Buffer, maxInput: number): Buffer {
  return out.length > maxInput ? out.subarray(0, maxInput) : out;
}

/** One byte-level mutation of `input` (never returns the same object). */
export function mutateBytes(
  input: Buffer,
  rng: Rng,
  other: Buffer | undefined,
  maxInput: number,
): Buffer {
  const len = input.length;
  const at = rng.below(len + 1);
  switch (rng.below(13)) {
    case 0: {
      // bit flip
      if (len === 0) return Buffer.from([rng.below(256)]);
      const out = Buffer.from(input);
      const i = rng.below(len);
      out[i] = (out[i] ?? 0) ^ (1 << rng.below(8));
      return out;
    }
    case 1: {
      // set a byte to an interesting value
      if (len === 0) return Buffer.from([rng.pick(INTERESTING_U8)]);
      const out = Buffer.from(input);
      out[rng.below(len)] = rng.pick(INTERESTING_U8);
      return out;
    }
    case 2: {
      // random byte
      if (len === 0) return Buffer.from([rng.below(256)]);
      const out = Buffer.from(input);
      out[rng.below(len)] = rng.below(256);
      return out;
    }
    case 3: {
      // insert random bytes
      const n = 1 + rng.below(rng.chance(4) ? 64 : 4);
      const ins = Buffer.alloc(n);
      for (let i = 0; i < n; i++) ins[i] = rng.below(256);
      return clampLength(Buffer.concat([input.subarray(0, at), ins, input.subarray(at)]), maxInput);
    }
    case 4: {
      // delete a range
      if (len === 0) return Buffer.alloc(0);
      const n = 1 + rng.below(Math.min(len - at + 1, rng.chance(4) ? len : 8));
      return Buffer.concat([input.subarray(0, at), input.subarray(Math.min(len, at + n))]);
    }
    case 5: {
      // duplicate a range (once, or many times to approach size limits)
      if (len === 0) return Buffer.alloc(0);
      const from = rng.below(len);
      const piece = input.subarray(from, from + 1 + rng.below(Math.min(64, len - from)));
      const times = rng.chance(32) ? 1 + rng.below(Math.ceil(maxInput / piece.length)) : 1;
      const pieces = Array.from({ length: times }, () => piece);
      return clampLength(
        Buffer.concat([input.subarray(0, at), ...pieces, input.subarray(at)]),
        maxInput,
      );
    }
    case 6: {
      // splice with another corpus entry
      if (other === undefined || other.length === 0) return Buffer.from(input);
      const cut = rng.below(other.length + 1);
      return clampLength(
        rng.chance(2)
          ? Buffer.concat([input.subarray(0, at), other.subarray(cut)])
          : Buffer.concat([input, other.subarray(0, cut)]),
        maxInput,
      );
    }
    case 7:
    case 8: {
      // write an interesting u32 (big or little endian) at a random or the first offset
      const out = Buffer.from(len >= 4 ? input : Buffer.concat([input, Buffer.alloc(4 - len)]));
      const off = rng.chance(2) ? 0 : rng.below(out.length - 3);
      const value = rng.pick(INTERESTING_U32);
      if (rng.chance(3)) out.writeUInt32LE(value, off);
      else out.writeUInt32BE(value, off);
      return out;
    }
    case 9: {
      // length-field arithmetic on the u32be at a random offset: ±1, ×2, ÷2
      if (len < 4) return Buffer.concat([input, Buffer.alloc(4 - len)]);
      const out = Buffer.from(input);
      const off = rng.chance(2) ? 0 : rng.below(len - 3);
      const v = out.readUInt32BE(off);
      const next = [v + 1, v - 1, v * 2, Math.floor(v / 2), v + 4, v - 4][rng.below(6)] ?? v;
      out.writeUInt32BE(((next % 2 ** 32) + 2 ** 32) % 2 ** 32, off);
      return out;
    }
    case 10: {
      // truncate
      return input.subarray(0, rng.below(len + 1));
    }
    case 11: {
      // dictionary token
      const token = Buffer.from(rng.pick(DICTIONARY));
      return clampLength(
        Buffer.concat([input.subarray(0, at), token, input.subarray(at)]),
        maxInput,
      );
    }
    default: {
      // swap two ranges' bytes (reorder)
      if (len < 2) return Buffer.from(input);
      const out = Buffer.from(input);
      const i = rng.below(len);
      const j = rng.below(len);
      const a = out[i] ?? 0;
      out[i] = out[j] ?? 0;
      out[j] = a;
      return out;
    }
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Collects the containers of a JSON value, so one can be picked and changed in place. */
function containers(value: Json, out: (Json[] | { [key: string]: Json })[]): void {
  if (value !== null && typeof value === 'object') {
    out.push(value);
    for (const child of Array.isArray(value) ? value : Object.values(value)) containers(child, out);
  }
}

/**
 * One JSON-aware mutation of `text` (a JSON object as text): change a value's
 * type or to an edge value, delete or add a key (prototype keys included), nest
 * deeper, or duplicate a key in the text. Returns undefined if `text` is not JSON.
 */
export function mutateJson(text: string, rng: Rng): string | undefined {
  let root: Json;
  try {
    root = JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
  const all: (Json[] | { [key: string]: Json })[] = [];
  containers(root, all);
  if (all.length === 0) return JSON.stringify(rng.pick(INTERESTING_JSON));
  const target = rng.pick(all);
  const value = rng.pick(INTERESTING_JSON) as Json;
  switch (rng.below(6)) {
    case 0:
    case 1: {
      // replace a value
      if (Array.isArray(target)) {
        if (target.length > 0) target[rng.below(target.length)] = value;
        else target.push(value);
      } else {
        const keys = Object.keys(target);
        if (keys.length > 0) target[rng.pick(keys)] = value;
      }
      break;
    }
    case 2: {
      // delete a key / element
      if (Array.isArray(target)) target.splice(rng.below(target.length), 1);
      else {
        const keys = Object.keys(target);
        if (keys.length > 0) Reflect.deleteProperty(target, rng.pick(keys));
      }
      break;
    }
    case 3: {
      // add a key, sometimes one that reaches a prototype
      const key = rng.pick([
        '__proto__',
        'constructor',
        'prototype',
        'extra',
        'type',
        'size',
        'name',
        '',
      ]);
      if (Array.isArray(target)) target.push(value);
      // Defined, not assigned: a "__proto__" key must be an own property to be serialised.
      else
        Object.defineProperty(target, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      break;
    }
    case 4: {
      // nest a value deeper
      const depth = 1 + rng.below(40);
      let nested: Json = value;
      for (let i = 0; i < depth; i++) nested = rng.chance(2) ? [nested] : { a: nested };
      if (Array.isArray(target)) target.push(nested);
      else {
        const keys = Object.keys(target);
        target[keys.length > 0 ? rng.pick(keys) : 'a'] = nested;
      }
      break;
    }
    default: {
      // a duplicate key in the text (JSON.parse keeps the last one)
      const out = JSON.stringify(root);
      if (!out.startsWith('{') || out === '{}') return out;
      return `{"type":${JSON.stringify(value)},${out.slice(1)}`;
    }
  }
  return JSON.stringify(root);
}
