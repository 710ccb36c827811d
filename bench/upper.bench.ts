/**
 * The echo service's `upper` transform alone (issue #15 §2): ns per call of
 * each implementation in src/services/echo/upper-ascii.ts at several sizes,
 * and of the branchy byte loop it replaced, on text-like bytes (mixed-case
 * ASCII, spaces, some UTF-8). Each call is made on a buffer just refilled
 * with text it has not seen (the transform is in place, and data already
 * upper-cased, or the same bytes every time, would flatter the branchy
 * loop); the refill is timed on its own and subtracted. About 10 s in all (--quick: 1 s).
 *
 *   node --import tsx bench/upper.bench.ts [--quick]
 */
import {
  upperAsciiInPlace,
  upperBytes,
  upperSwar,
  upperWasm,
  wasmSimdAvailable,
} from '../src/services/echo/internal.js';
import { textTable } from './harness/report.js';
import { formatNumber, median } from './harness/stats.js';

const quick = process.argv.includes('--quick');
/** Short timed slices per implementation and size, interleaved; the best one counts. */
const SLICES = quick ? 10 : 25;
const SLICE_MS = quick ? 3 : 5;
const SIZES = quick
  ? [64, 1024, 65536]
  : [16, 32, 48, 64, 128, 256, 1024, 4096, 16384, 65536, 262144];

/** The byte loop upperAsciiInPlace was before issue #15 (a branch per byte), for comparison. */
function branchyLoop(bytes: Uint8Array): Uint8Array {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b >= 0x61 && b <= 0x7a) bytes[i] = b - 32;
  }
  return bytes;
}

const IMPLS: readonly (readonly [string, (b: Uint8Array) => Uint8Array])[] = [
  ['old branchy loop', branchyLoop],
  ['byte loop', (b) => upperBytes(b)],
  ['SWAR', upperSwar],
  ['wasm SIMD', upperWasm],
  ['chosen', upperAsciiInPlace],
];

/** Deterministic text-like bytes: letters of both cases, spaces, now and then "é" (c3 a9). */
function sample(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let seed = 0x2545f491;
  for (let i = 0; i < size; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const r = seed >>> 24;
    if (r < 24) out[i] = 0x20;
    else if (r < 28 && i + 1 < size) {
      out[i++] = 0xc3;
      out[i] = 0xa9;
    } else out[i] = (r & 1 ? 0x41 : 0x61) + (r % 26);
  }
  return out;
}

/**
 * Text the calls take their input from, a different window each time: the
 * same few bytes over and over would let the branch predictor learn them,
 * which flatters the branchy loop up to several KiB.
 */
const POOL = sample(2 << 20);

/** ns per call of `fn` on a buffer refilled from a new window of POOL before each call. */
function timeCalls(work: Uint8Array, fn: (b: Uint8Array) => unknown): number {
  const span = POOL.length - work.length;
  let offset = 0;
  let calls = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(SLICE_MS * 1e6);
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 64; i++) {
      offset = (offset + 4099) % span;
      work.set(POOL.subarray(offset, offset + work.length));
      fn(work);
    }
    calls += 64;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / calls;
}

const refillOnly = (): undefined => undefined;

// The buffer sits at byteOffset 8, as Buffers cut from Node's pool do. On a
// shared machine other processes only ever add time, so each figure is the
// best slice (minus the best refill-only slice); "median" shows the noise.
const rows: string[][] = [];
for (const size of SIZES) {
  const work = new Uint8Array(new ArrayBuffer(size + 16), 8, size);
  // Warm up (and let V8 tier up the wasm kernel and the loops).
  for (const [, fn] of IMPLS) for (let i = 0; i < 2000; i++) fn(work.fill(0x61));
  const samples = new Map<string, number[]>();
  const add = (name: string, ns: number): void => {
    samples.set(name, [...(samples.get(name) ?? []), ns]);
  };
  for (let slice = 0; slice < SLICES; slice++) {
    add('refill', timeCalls(work, refillOnly));
    for (const [name, fn] of IMPLS) add(name, timeCalls(work, fn));
  }
  const refill = samples.get('refill') ?? [];
  const best = (ns: readonly number[]): number => Math.min(...ns) - Math.min(...refill);
  for (const [name] of IMPLS) {
    const ns = samples.get(name) ?? [];
    const b = best(ns);
    rows.push([
      String(size),
      name,
      formatNumber(b),
      formatNumber(size / b), // bytes per ns = GB/s
      formatNumber(median(ns) - median(refill)),
    ]);
  }
}
console.log(
  `upper-casing in place: ns per call, best of ${SLICES} slices of ${SLICE_MS} ms, the refill subtracted; ` +
    `wasm SIMD ${wasmSimdAvailable() ? 'available' : 'UNAVAILABLE (its rows are SWAR)'}; Node ${process.version}`,
);
console.log(textTable(['bytes', 'implementation', 'ns/call', 'GB/s', 'median'], rows));
