import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  SWAR_FROM,
  upperAsciiInPlace,
  upperAsciiInPlaceOf,
  upperBytes,
  upperSwar,
  upperWasm,
  wasmSimdAvailable,
  WASM_CHUNK,
  WASM_FROM,
} from '../../../src/services/echo/internal.js';

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 42), numRuns: 300 });

/** The rule, written out independently of src: 'a'..'z' lose 0x20, nothing else changes. */
function reference(bytes: Uint8Array): Uint8Array {
  return bytes.map((b) => (b >= 0x61 && b <= 0x7a ? b - 0x20 : b));
}

const PATHS: readonly (readonly [string, (b: Uint8Array) => Uint8Array])[] = [
  ['byte loop', (b) => upperBytes(b)],
  ['SWAR', upperSwar],
  ['wasm SIMD', upperWasm],
  ['upperAsciiInPlace', upperAsciiInPlace],
  ['upperAsciiInPlaceOf', (b) => upperAsciiInPlaceOf(b, new Uint8Array(b.buffer))],
];

/**
 * Runs every path on its own copy of `input`, placed at `offset` in a larger
 * ArrayBuffer whose other bytes are 'a' (so a path writing outside its view
 * shows), and checks the result, the identity of the returned array and the
 * bytes around it.
 */
function checkAll(input: Uint8Array, offset: number, slack: number): void {
  const expected = reference(input);
  for (const [name, upper] of PATHS) {
    const buffer = new ArrayBuffer(offset + input.length + slack);
    new Uint8Array(buffer).fill(0x61);
    const view = new Uint8Array(buffer, offset, input.length);
    view.set(input);
    const out = upper(view);
    assert.equal(out, view, `${name} returns the array it was given`);
    assert.ok(Buffer.from(view).equals(expected), `${name}: ${input.length} bytes at ${offset}`);
    const whole = new Uint8Array(buffer);
    for (let i = 0; i < offset; i++) assert.equal(whole[i], 0x61, `${name} wrote before its view`);
    for (let i = offset + input.length; i < whole.length; i++) {
      assert.equal(whole[i], 0x61, `${name} wrote after its view`);
    }
  }
}

/** `length` deterministic bytes from `seed`, drawn mostly from letters, digits and UTF-8 of both cases when `texty`. */
function bytesFrom(seed: number, length: number, texty: boolean): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const r = s >>> 0;
    // Text-like: every byte near the edges of 'a'..'z' and 'A'..'Z' ('@', '[', '`', '{', …) shows up often.
    out[i] = texty && r % 4 !== 0 ? 0x3e + ((r >>> 8) % 0x44) : r >>> 24;
  }
  return out;
}

describe('upper-casing ASCII in place (echo reply mode upper)', () => {
  it('has WebAssembly SIMD on Node 20, so the hand-assembled kernel is valid', () => {
    assert.equal(wasmSimdAvailable(), true);
  });

  it('maps every byte value: only 0x61..0x7a change, by minus 0x20', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    // Repeated past one wasm chunk and at every alignment, so each path sees every byte in every lane.
    const many = new Uint8Array(70_000).map((_, i) => (i * 7 + (i >>> 8)) & 0xff);
    for (let offset = 0; offset < 16; offset++) {
      checkAll(all, offset, 3);
      checkAll(many, offset, 1);
    }
    assert.deepEqual(
      [...upperBytes(all.slice())].filter((b, i) => b !== i),
      [...Array<number>(26).keys()].map((i) => 0x41 + i),
    );
  });

  it('leaves UTF-8 alone: "héllo wörld, straße, ǅ, 日本" upper-cases only the ASCII letters', () => {
    const text = 'héllo wörld, straße, ǅ, 日本 '.repeat(3000);
    const expected = 'HéLLO WöRLD, STRAßE, ǅ, 日本 '.repeat(3000);
    for (const length of [5, SWAR_FROM, WASM_FROM, 1000, text.length]) {
      const slice = text.slice(0, length);
      for (const [name, upper] of PATHS) {
        const bytes = Buffer.from(slice);
        assert.equal(
          Buffer.from(upper(bytes)).toString(),
          expected.slice(0, length),
          `${name}, ${length} chars`,
        );
      }
    }
  });

  it("sizes at the edges: empty, the thresholds between paths, and the wasm path's chunks", () => {
    const sizes = [0, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 127, 128];
    for (const edge of [SWAR_FROM, WASM_FROM]) sizes.push(edge - 1, edge, edge + 1);
    for (const edge of [WASM_CHUNK, 2 * WASM_CHUNK, 65_536, 131_072])
      sizes.push(edge - 1, edge, edge + 1);
    sizes.push(200 * 1024);
    for (const size of sizes) {
      for (const offset of [0, 1, 2, 3, 5, 8]) checkAll(bytesFrom(size + 1, size, true), offset, 5);
    }
  });

  it('every path matches the reference on any bytes up to 512 (shrinkable)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 7 }),
        (input, offset, slack) => {
          checkAll(input, offset, slack);
        },
      ),
    );
  });

  it('every path matches the reference on random lengths up to 200 KiB at random offsets', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 * 1024 }),
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 31 }),
        fc.integer(),
        fc.boolean(),
        (length, offset, slack, seed, texty) => {
          checkAll(bytesFrom(seed, length, texty), offset, slack);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('SWAR on many views of one buffer (its cached word view), then of another, then of a resized one', () => {
    // The frames of one socket read: views at every offset of one buffer, in turn.
    const buffer = new ArrayBuffer(4096);
    const whole = new Uint8Array(buffer);
    whole.set(bytesFrom(7, 4096, true));
    const expected = reference(whole.slice());
    for (let at = 0; at < 4096;) {
      const length = Math.min(4096 - at, 1 + ((at * 7) % 70));
      upperSwar(whole.subarray(at, at + length));
      at += length;
    }
    assert.ok(Buffer.from(whole).equals(Buffer.from(expected)), 'views of one buffer');
    checkAll(bytesFrom(8, 77, true), 3, 5); // another buffer after it
    // A resizable buffer that shrinks, then grows, between calls: the cached view must not be trusted.
    const Resizable = ArrayBuffer as unknown as new (
      n: number,
      o: { maxByteLength: number },
    ) => ArrayBuffer & { resize(n: number): void };
    const r = new Resizable(256, { maxByteLength: 1024 });
    const rv = (): Uint8Array => new Uint8Array(r);
    rv().fill(0x61);
    upperSwar(rv().subarray(8, 200));
    r.resize(64);
    r.resize(1024);
    rv().fill(0x62, 0);
    upperSwar(rv().subarray(300, 900));
    assert.ok(
      rv()
        .subarray(300, 900)
        .every((b) => b === 0x42),
      'after a resize',
    );
    assert.ok(
      rv()
        .subarray(0, 300)
        .every((b) => b === 0x62),
      'nothing else touched',
    );
  });

  it('without WebAssembly (node --jitless) falls back to SWAR and gives the same bytes', () => {
    const entry = new URL('../../../src/services/echo/internal.ts', import.meta.url).href;
    const script = `
      const m = await import(${JSON.stringify(entry)});
      const text = Buffer.from('héllo wörld, straße {[@\`]} '.repeat(8000));
      const sizes = [0, 1, 39, 40, 95, 96, 1000, 65536, 65537, text.length];
      const out = sizes.map((n) => m.upperAsciiInPlace(text.subarray(1, 1 + n).slice()).toString('hex'));
      console.log(JSON.stringify({ simd: m.wasmSimdAvailable(), wasm: typeof WebAssembly, sizes, out }));
    `;
    const child = spawnSync(
      process.execPath,
      ['--jitless', '--no-warnings', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    const result = JSON.parse(child.stdout) as {
      simd: boolean;
      wasm: string;
      sizes: number[];
      out: string[];
    };
    assert.equal(result.wasm, 'undefined');
    assert.equal(result.simd, false);
    const text = Buffer.from('héllo wörld, straße {[@`]} '.repeat(8000));
    result.sizes.forEach((n, i) => {
      const expected = Buffer.from(reference(text.subarray(1, 1 + n))).toString('hex');
      assert.ok(result.out[i] === expected, `${n} bytes without WebAssembly`);
    });
  });
});
