import { UsageError } from '../errors.js';
import { DEFAULT_MAX_FRAME } from '../limits.js';
import type { ByteOrder } from './byte-order.js';

/**
 * How a TCP connection's bytes are cut into messages (SPEC §1.3):
 * - `raw`: no framing; bytes (or text lines) as they come.
 * - `u32be` / `u32le`: 4-byte length-prefixed frames.
 * - `auto`: decided by the client's first byte (listeners only).
 */
export type FramingMode = 'auto' | 'raw' | ByteOrder;

/** A decided framing: what `auto` resolves to, or an explicit choice. */
export type ResolvedFraming = 'raw' | ByteOrder;

/** TCP framings a server accepts: `auto` (by the first byte), `raw`, `u32be`, `u32le`. */
export const FRAMING_MODES: readonly FramingMode[] = ['auto', 'raw', 'u32be', 'u32le'];

export function parseFramingMode(value: string): FramingMode {
  if ((FRAMING_MODES as readonly string[]).includes(value)) return value as FramingMode;
  throw new UsageError(
    'BAD_OPTION',
    `unknown framing "${value}" (expected one of ${FRAMING_MODES.join(', ')})`,
  );
}

/** Text never starts with NUL … BS (0x00–0x08); TAB and LF may start a line. */
const LAST_NON_TEXT_BYTE = 0x08;

/**
 * SPEC §1.3: a u32be length below 16 MiB starts with 0x00, and a text line
 * never starts with NUL, so the first byte tells framed clients from `nc`
 * users. A frame of exactly 16 MiB (the default maxFrame, legal by §1.1)
 * starts with 0x01, so a first byte up to `maxFrame >>> 24` is framed too, as
 * long as it is a byte no text starts with. Little-endian lengths start with
 * their low byte, so u32le is never guessed.
 */
export function detectFraming(firstByte: number, maxFrame = DEFAULT_MAX_FRAME): ResolvedFraming {
  return firstByte <= Math.min(maxFrame >>> 24, LAST_NON_TEXT_BYTE) ? 'u32be' : 'raw';
}
