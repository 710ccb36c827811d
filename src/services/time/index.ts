export { TimeServer } from './server.js';
export type { SntpServerOptions, TimeListen, TimeServerOptions } from './server.js';
export { queryTime } from './client.js';
export type { TimeQueryOptions, TimeResult } from './client.js';
export {
  RFC868_PORT,
  SNTP_PORT,
  STRFTIME_PORT,
  TIME_MODES,
  UNIX32_PORT,
  decodeRfc868,
  decodeUnix32,
  encodeRfc868,
  encodeUnix32,
} from './messages.js';
export type { Clock, TimeMode } from './messages.js';
export { encodeSntpRequest, parseSntpPacket } from './sntp.js';
export type { SntpPacket } from './sntp.js';
export { strftime } from './strftime.js';
export type { SntpStats } from './server.js';
