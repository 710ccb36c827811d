// ASCII upper-casing in place, the echo service's default `upper` reply
// (issue #15 §2: the transform must cost almost nothing next to `echo`).
// Pure: no I/O. Only bytes 0x61..0x7a ('a'..'z') change, by minus 0x20;
// every other byte, UTF-8 lead and continuation bytes included, is untouched.
//
// Three implementations of the same function, each reachable from the tests
// through internal.ts:
// - upperBytes: a branch-free byte loop (for short inputs, and the head and
//   tail of SWAR);
// - upperSwar: four bytes at a time on a Uint32Array view of the aligned
//   middle, the byte loop for the unaligned head and the tail;
// - upperWasm: a WebAssembly SIMD kernel, 4 x 16 bytes per step, on a wasm
//   memory the input is copied into and back out of, 16 KiB at a time.
// upperAsciiInPlace picks one by length (measured at SWAR_FROM below): the
// byte loop for the shortest inputs, SWAR for short ones, the wasm kernel for
// the rest, SWAR instead of it where WebAssembly SIMD is unavailable.

/**
 * The byte loop over `[start, end)`, branch-free: the same bit trick as
 * {@link upperSwar} on one byte (bit 7 of `b + 0x1f` is set iff b >= 'a', of
 * `b + 5` iff b > 'z', of `~b` iff b is ASCII; that bit, moved to 0x20, is
 * XORed in). A plain `if (b >= 0x61 && b <= 0x7a)` costs about 5 ns a byte
 * on text, where the branch goes either way at random (measured below); this
 * costs about 1.
 */
export function upperBytes(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  for (let i = start; i < end; i++) {
    const b = bytes[i] as number;
    bytes[i] = b ^ (((b + 0x1f) & ~(b + 0x05) & ~b & 0x80) >>> 2);
  }
  return bytes;
}

/**
 * Four bytes per step. For each byte of a word `w` (no carries cross bytes,
 * since every byte of `low7` is at most 0x7f and each addend at most 0x1f):
 * - `low7 + 0x1f` has bit 7 set iff low7 >= 0x61 ('a');
 * - `low7 + 0x05` has bit 7 set iff low7 >= 0x7b (past 'z');
 * - `~w` has bit 7 set iff the byte itself is ASCII (below 0x80).
 * Their AND at bit 7 marks exactly the bytes in 'a'..'z'; shifted down to
 * bit 5 (0x20, which every lower-case letter has set) and XORed, it clears
 * that bit in those bytes only.
 */
export function upperSwar(bytes: Uint8Array): Uint8Array {
  return swarWith(bytes, wordsOver(bytes.buffer));
}

/** SWAR with `view`, a word view of the whole of `bytes.buffer` (or undefined: one of its own). */
function swarWith(bytes: Uint8Array, view: Uint32Array | undefined): Uint8Array {
  const length = bytes.length;
  const offset = bytes.byteOffset;
  const head = (4 - (offset & 3)) & 3;
  if (length < head + 4) return upperBytes(bytes);
  if (head !== 0) upperBytes(bytes, 0, head);
  const words = (length - head) >>> 2;
  let first = (offset + head) >>> 2;
  // A view that does not cover the range (a resizable buffer resized since): one of its own.
  if (view === undefined || first + words > view.length) {
    view = new Uint32Array(bytes.buffer, offset + head, words);
    first = 0;
  }
  for (let k = first, stop = first + words; k < stop; k++) {
    const w = view[k] as number;
    const low7 = w & 0x7f7f7f7f;
    const mask = ((low7 + 0x1f1f1f1f) & ~(low7 + 0x05050505) & ~w & 0x80808080) >>> 2;
    view[k] = w ^ mask;
  }
  const tail = head + words * 4;
  return tail === length ? bytes : upperBytes(bytes, tail, length);
}

/**
 * Buffers up to this size get a cached whole-buffer word view (see
 * {@link wordsOver}); the one cached buffer is kept alive until the next
 * call, so a large one is not.
 */
const CACHED_VIEW_MAX = 256 * 1024;
let viewBuffer: ArrayBufferLike | undefined;
let viewWords: Uint32Array | undefined;

/**
 * A Uint32Array over the whole of `buffer` (word k = bytes 4k..4k+3), the
 * last one made kept for the next call: the frames of one socket read are
 * views on one buffer, so a read of 64-byte frames makes one view instead of
 * one per frame (about 40 ns each, most of SWAR's fixed cost at 64 bytes).
 * Undefined for a buffer over {@link CACHED_VIEW_MAX}: the caller makes a view
 * of its own range.
 */
function wordsOver(buffer: ArrayBufferLike): Uint32Array | undefined {
  if (buffer === viewBuffer) return viewWords;
  if (buffer.byteLength > CACHED_VIEW_MAX) return undefined;
  viewBuffer = buffer;
  viewWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  return viewWords;
}

/**
 * The WebAssembly SIMD kernel, assembled by hand below (the same 219 bytes
 * wabt 1.0.39's wat2wasm produces for this text; checked outside the repo):
 *
 *   (module
 *     (memory (export "memory") 1 1)            ;; one 64 KiB page, never grown
 *     (func (export "upper") (param $len i32)   ;; upper-cases [0, len) rounded up to 64
 *       (local $i i32) (local $v v128) (local $a v128) (local $n v128) (local $b v128)
 *       i32.const 0x1f  i8x16.splat  local.set $a
 *       i32.const -102  i8x16.splat  local.set $n
 *       i32.const 0x20  i8x16.splat  local.set $b
 *       block $done
 *         loop $next
 *           local.get $i  local.get $len  i32.ge_u  br_if $done
 *           ;; four times, for offset = 0, 16, 32, 48:
 *           local.get $i                                 ;; the store's address
 *           local.get $i  v128.load offset=OFFSET  local.tee $v
 *           local.get $v  local.get $a  i8x16.add        ;; 'a'..'z' -> -128..-103
 *           local.get $n  i8x16.lt_s                     ;; 0xff there, else 0
 *           local.get $b  v128.and                       ;; 0x20 there, else 0
 *           v128.andnot                                  ;; v & ~that
 *           v128.store offset=OFFSET
 *           ;; end of the four
 *           local.get $i  i32.const 64  i32.add  local.set $i
 *           br $next
 *         end
 *       end))
 *
 * Adding 0x1f (wrapping) moves 'a'..'z' to the 26 lowest signed bytes, so one
 * signed compare (x86 pcmpgtb) is the range check; no other byte lands
 * there. Measured on this machine's Xeon (Node 20, 64 KiB, kernel alone):
 * 3.6 us for one 16-byte step per iteration with an unsigned compare
 * (`v - 'a' <u 26`, which x86 has no single instruction for), 2.3 us for
 * this one (four steps per iteration, signed compare, constants in locals).
 */
/** One 16-byte step of the loop at byte offset `offset` (below 128: one LEB128 byte). */
// prettier-ignore
const step = (offset: number): number[] => [
  0x20, 0x01,                                     //       local.get $i
  0x20, 0x01, 0xfd, 0x00, 0x04, offset,           //       local.get $i, v128.load align=16 offset
  0x22, 0x02, 0x20, 0x02,                         //       local.tee $v, local.get $v
  0x20, 0x03, 0xfd, 0x6e,                         //       local.get $a, i8x16.add
  0x20, 0x04, 0xfd, 0x25,                         //       local.get $n, i8x16.lt_s
  0x20, 0x05, 0xfd, 0x4e,                         //       local.get $b, v128.and
  0xfd, 0x4f,                                     //       v128.andnot
  0xfd, 0x0b, 0x04, offset,                       //       v128.store align=16 offset
]; // 30 bytes
// prettier-ignore
const KERNEL = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00,       // type section: 1 type, func (i32) -> ()
  0x03, 0x02, 0x01, 0x00,                         // function section: 1 function of type 0
  0x05, 0x04, 0x01, 0x01, 0x01, 0x01,             // memory section: 1 memory, min 1 max 1 page
  0x07, 0x12, 0x02,                               // export section (18 bytes): 2 exports
  0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, //   "memory": memory 0
  0x05, 0x75, 0x70, 0x70, 0x65, 0x72, 0x00, 0x00,       //   "upper": func 0
  0x0a, 0xab, 0x01, 0x01,                         // code section (171 bytes): 1 body
  0xa8, 0x01,                                     //   body size 168
  0x02, 0x01, 0x7f, 0x04, 0x7b,                   //   locals: 1 i32 ($i), 4 v128 ($v $a $n $b)
  0x41, 0x1f, 0xfd, 0x0f, 0x21, 0x03,             //   i32.const 0x1f, i8x16.splat, local.set $a
  0x41, 0x9a, 0x7f, 0xfd, 0x0f, 0x21, 0x04,       //   i32.const -102, i8x16.splat, local.set $n
  0x41, 0x20, 0xfd, 0x0f, 0x21, 0x05,             //   i32.const 0x20, i8x16.splat, local.set $b
  0x02, 0x40,                                     //   block $done
  0x03, 0x40,                                     //     loop $next
  0x20, 0x01, 0x20, 0x00, 0x4f, 0x0d, 0x01,       //       local.get $i, local.get $len, i32.ge_u, br_if $done
  ...step(0), ...step(16), ...step(32), ...step(48), // 4 x 30 bytes
  0x20, 0x01, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x01, //       local.get $i, i32.const 64, i32.add, local.set $i
  0x0c, 0x00,                                     //       br $next
  0x0b,                                           //     end
  0x0b,                                           //   end
  0x0b,                                           // end of body
]);

/**
 * How much one call into the kernel upper-cases (the wasm memory holds 64 KiB;
 * the rest is unused). A 16 KiB chunk, its source and the wasm memory stay in
 * this Xeon's 48 KiB L1 data cache through the copy in, the kernel and the
 * copy out: 64 KiB took 4.5 us in 16 KiB chunks against 5.4 in one 64 KiB
 * chunk (6.0 in 4 KiB chunks, where the per-call cost shows; 256 KiB: 16-18
 * against 20-23 us).
 */
export const WASM_CHUNK = 16384;
const CHUNK = WASM_CHUNK;

/** What this module uses of the WebAssembly API (not in the ES2023 lib's types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => unknown;
  Instance: new (module: unknown) => { exports: Record<string, unknown> };
}

interface Kernel {
  /** The first CHUNK bytes of wasm memory (it never grows, so this view never detaches). */
  memory: Uint8Array;
  upper: (length: number) => void;
}

let kernel: Kernel | null | undefined;

/**
 * The instantiated kernel, made on first use; null where WebAssembly or its
 * SIMD proposal is missing, or where instantiating fails (a 64 KiB memory
 * refused, say): upper-casing must not throw, so SWAR does the work then.
 */
function loadKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  try {
    if (api === undefined || !api.validate(KERNEL)) return kernel;
    const { exports } = new api.Instance(new api.Module(KERNEL));
    const memory = exports.memory as { buffer: ArrayBuffer };
    kernel = {
      memory: new Uint8Array(memory.buffer, 0, CHUNK),
      upper: exports.upper as (length: number) => void,
    };
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Whether {@link upperWasm} can run here (WebAssembly with SIMD). */
export function wasmSimdAvailable(): boolean {
  return loadKernel() !== null;
}

/**
 * Through the SIMD kernel, 16 KiB at a time: copy a chunk into wasm memory,
 * upper-case it there (the kernel rounds up to 64 bytes; what lies past the
 * chunk in wasm memory is scratch), copy it back. Falls back to
 * {@link upperSwar} where WebAssembly SIMD is unavailable.
 */
export function upperWasm(bytes: Uint8Array): Uint8Array {
  const k = loadKernel();
  if (k === null) return upperSwar(bytes);
  const { memory, upper } = k;
  const length = bytes.length;
  for (let offset = 0; offset < length; offset += CHUNK) {
    const n = Math.min(CHUNK, length - offset);
    memory.set(n === length ? bytes : bytes.subarray(offset, offset + n));
    upper(n);
    bytes.set(n === CHUNK ? memory : memory.subarray(0, n), offset);
  }
  return bytes;
}

/**
 * Which path for which length, from bench/upper.bench.ts (ns per call, best
 * of 25 slices, on text the branch predictor has not seen; Node 20, this
 * shared 2-core Xeon; the median of the slices is within 10 % of these):
 *
 *   bytes   old branchy loop  byte loop    SWAR   wasm SIMD (copies included)
 *   16                    95         17      50      69
 *   32                   169         48      55      71
 *   48                   259         69      59      73
 *   64                   356         98      62      78
 *   128                  637        175      91      76
 *   256                1 210        312     132      82
 *   1 KiB              4 765      1 187     323     104
 *   4 KiB             19 091      4 665   1 106     290
 *   64 KiB           318 652     80 323  17 891   4 231
 *   256 KiB        1 237 083    305 531  67 684  16 165
 *
 * The byte loop costs about 1.2 ns a byte and nothing else; SWAR about
 * 0.27 ns a byte plus ~45 ns (the Uint32Array view, the head and tail);
 * the wasm path about 0.065 ns a byte plus ~70 ns (two TypedArray.set
 * copies, a subarray, the call into wasm). The crossings are near 40 and
 * near 96 bytes. The old branchy loop (~5 ns a byte on text: the branch goes
 * either way at random) was what the `upper` reply mode ran before.
 *
 * Since SWAR keeps its word view of the last buffer (wordsOver: the frames of
 * one read share it), its fixed cost is about 20 ns where that view is
 * reused (2026-12-07, same machine: 16 B 27 ns, 32 B 28, 64 B 38, 128 B 68,
 * 256 B 116; the byte loop 15, 48, 86, 167, 325; wasm 66, 68, 74, 78, 99):
 * the crossings moved to about 24 and 190 bytes (160 is taken for the
 * second: nothing was measured between 128 and 256, and wasm's cost is the
 * steadier of the two there).
 */
export const SWAR_FROM = 24;
/** From this many bytes on the wasm kernel (when there is one) beats SWAR. */
export const WASM_FROM = 160;

/** Upper-cases ASCII letters in place and returns the same array; every other byte is left alone. */
export function upperAsciiInPlace(bytes: Uint8Array): Uint8Array {
  const length = bytes.length;
  if (length < SWAR_FROM) return upperBytes(bytes);
  if (length < WASM_FROM) return upperSwar(bytes);
  return upperWasm(bytes);
}

/**
 * The last source {@link upperAsciiInPlaceOf} was given and its word view:
 * one buffer of at most CACHED_VIEW_MAX for the whole process, kept until
 * the next source replaces it.
 */
let sourceOf: Uint8Array | undefined;
let sourceWords: Uint32Array | undefined;

/**
 * {@link upperAsciiInPlace} for a view on `source`'s memory (`bytes.buffer`
 * is `source.buffer`: the caller knows, e.g. FrameDecoder's `source` while
 * it delivers a frame). Reading `.buffer` costs about 13 ns per call on
 * Node 20, a third of SWAR's time on a 64-byte frame; here it is read once
 * per source, so once per socket read for all its frames.
 */
export function upperAsciiInPlaceOf(bytes: Uint8Array, source: Uint8Array | undefined): Uint8Array {
  const length = bytes.length;
  if (length < SWAR_FROM) return upperBytes(bytes);
  if (length >= WASM_FROM) return upperWasm(bytes);
  if (source === undefined) return upperSwar(bytes);
  if (source !== sourceOf) {
    sourceWords = wordsOver(source.buffer);
    // Kept only with its view: a source too large for one is not held.
    sourceOf = sourceWords === undefined ? undefined : source;
  }
  return swarWith(bytes, sourceWords);
}
