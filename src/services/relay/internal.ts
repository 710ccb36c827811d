// What sockit's CLI, tests and benches use of the relay service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export { hexDump } from './hex-dump.js';
export { describeRead } from './inspector.js';
export {
  DEFAULT_MAX_CONNS,
  DEFAULT_UDP_LINGER_MS,
  describeEvent,
  payloadFields,
} from './messages.js';
