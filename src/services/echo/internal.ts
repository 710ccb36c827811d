// What sockit's CLI, tests and benches use of the echo service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export { parseReplyMode, upperAsciiInPlace, WELCOME } from './messages.js';
export {
  upperAsciiInPlaceOf,
  upperBytes,
  upperSwar,
  upperWasm,
  wasmSimdAvailable,
  SWAR_FROM,
  WASM_FROM,
  WASM_CHUNK,
} from './upper-ascii.js';
