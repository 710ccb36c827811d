export { relayConnect } from './client.js';
export type { RelayConnectOptions } from './client.js';
export type { RelaySession } from './session.js';
export { relayListen } from './server.js';
export type { RelayListenOptions, RelayListener } from './server.js';
export { ReadInspector, describeRead } from './inspector.js';
export type { FrameStep, ReadInspectorOptions, ReadReport } from './inspector.js';
export { hexDump } from './hex-dump.js';
export {
  DEFAULT_MAX_CONNS,
  DEFAULT_UDP_LINGER_MS,
  describeEvent,
  payloadFields,
} from './messages.js';
export type { RelayEvent, RelayIo, RelayOptions } from './messages.js';
