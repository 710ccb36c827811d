// What sockit's CLI, tests and benches use of the time service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export {
  DEFAULT_STRFTIME_FORMAT,
  defaultPortFor,
  ERA1_START_UNIX,
  eraSecondsToUnix,
  SECONDS_1900_TO_1970,
  systemClock,
} from './messages.js';
export { encodeSntpPacket, fromNtpTimestamp, offsetAndDelay, toNtpTimestamp } from './sntp.js';
