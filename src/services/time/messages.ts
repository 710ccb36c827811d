/**
 * The time formats of SPEC §2.2, as pure functions of a clock reading
 * (Unix milliseconds, fractional allowed). docs/TIME.md shows each byte by byte.
 */
import { RFC868_PORT, UNIX32_PORT, STRFTIME_PORT, SNTP_PORT } from '../../ports.js';

/** Default ports (src/ports.ts, SPEC §2). */
export { RFC868_PORT, UNIX32_PORT, STRFTIME_PORT, SNTP_PORT };

/** Seconds from 1900-01-01 (the RFC 868 / NTP epoch) to 1970-01-01 (Unix). */
export const SECONDS_1900_TO_1970 = 2_208_988_800;
const TWO_32 = 2 ** 32;
/** 2036-02-07T06:28:16Z in Unix seconds: where NTP/RFC 868 era 0 ends. */
export const ERA1_START_UNIX = TWO_32 - SECONDS_1900_TO_1970;

/** A clock: Unix time in milliseconds, sub-millisecond resolution allowed. */
export type Clock = () => number;

/** The system clock with microsecond resolution (Date.now() has only milliseconds). */
export const systemClock: Clock = () => performance.timeOrigin + performance.now();

/**
 * RFC 868: seconds since 1900 in 32 bits, big-endian. The count wraps on
 * 2036-02-07 06:28:16 UTC (it is 0 at that instant).
 */
export function encodeRfc868(unixMs: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(mod32(Math.floor(unixMs / 1000) + SECONDS_1900_TO_1970));
  return out;
}

/**
 * Reads an RFC 868 / NTP seconds field the RFC 4330 §3 way: with the top bit
 * set it counts from 1900 (1968–2036); with it clear, from 2036 (2036–2104).
 * Returns Unix seconds.
 */
export function eraSecondsToUnix(seconds: number): number {
  return seconds >= 0x8000_0000 ? seconds - SECONDS_1900_TO_1970 : seconds + ERA1_START_UNIX;
}

/** Reads an RFC 868 reply (4 bytes, seconds since 1900) as unix seconds, era-aware past 2036. */
export function decodeRfc868(bytes: Uint8Array): number {
  return eraSecondsToUnix(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32BE(0),
  );
}

/** unix32: seconds since 1970 in 32 bits, big-endian; wraps on 2106-02-07 06:28:16 UTC. */
export function encodeUnix32(unixMs: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(mod32(Math.floor(unixMs / 1000)));
  return out;
}

/** Reads a unix32 reply (4 bytes, u32be seconds since 1970) as unix seconds. */
export function decodeUnix32(bytes: Uint8Array): number {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32BE(0);
}

function mod32(n: number): number {
  return ((n % TWO_32) + TWO_32) % TWO_32;
}

/** The time modes `sockit time` speaks. */
export type TimeMode = 'rfc868' | 'unix32' | 'strftime' | 'sntp';
/** The time service's wire formats: `sntp`, `rfc868`, `unix32`, `strftime`. */
export const TIME_MODES: readonly TimeMode[] = ['sntp', 'rfc868', 'unix32', 'strftime'];

export function defaultPortFor(mode: TimeMode): number {
  switch (mode) {
    case 'rfc868':
      return RFC868_PORT;
    case 'unix32':
      return UNIX32_PORT;
    case 'strftime':
      return STRFTIME_PORT;
    case 'sntp':
      return SNTP_PORT;
  }
}

/** The largest strftime format a server accepts (bytes, UTF-8). */
export const MAX_STRFTIME_FORMAT = 256;
/** What an empty strftime datagram means. */
export const DEFAULT_STRFTIME_FORMAT = '%Y-%m-%d %X';
