export { TimeServer } from './server.js';
export type { SntpServerOptions, SntpStats, TimeListen, TimeServerOptions } from './server.js';
export { queryTime } from './client.js';
export type { TimeQueryOptions, TimeResult } from './client.js';
export {
  DEFAULT_STRFTIME_FORMAT,
  ERA1_START_UNIX,
  RFC868_PORT,
  SECONDS_1900_TO_1970,
  SNTP_PORT,
  STRFTIME_PORT,
  TIME_MODES,
  UNIX32_PORT,
  decodeRfc868,
  decodeUnix32,
  defaultPortFor,
  encodeRfc868,
  encodeUnix32,
  eraSecondsToUnix,
  systemClock,
} from './messages.js';
export type { Clock, TimeMode } from './messages.js';
export {
  encodeSntpPacket,
  encodeSntpRequest,
  fromNtpTimestamp,
  offsetAndDelay,
  parseSntpPacket,
  toNtpTimestamp,
} from './sntp.js';
export type { SntpPacket } from './sntp.js';
export { strftime } from './strftime.js';
