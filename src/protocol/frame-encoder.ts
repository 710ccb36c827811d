import { ProtocolError } from '../errors.js';
import { DEFAULT_MAX_FRAME } from '../limits.js';
import { FRAME_HEADER_BYTES, type ByteOrder } from './byte-order.js';

/** Options of {@link encodeFrame}: byte order and the largest frame. */
export interface FrameEncoderOptions {
  /** Largest payload this side will send, in bytes. @default 16 MiB */
  maxFrame?: number;
  /** @default 'u32be' */
  byteOrder?: ByteOrder;
}

/** Throws FRAME_TOO_LARGE locally, before a byte is written, like the receiving side would. */
export function checkFrameLength(length: number, maxFrame = DEFAULT_MAX_FRAME): void {
  if (length > maxFrame) {
    throw new ProtocolError(
      'FRAME_TOO_LARGE',
      `frame of ${length} bytes exceeds the limit of ${maxFrame} bytes`,
    );
  }
}

/** Writes a length prefix into `target` at `offset`. */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  length: number,
  byteOrder: ByteOrder = 'u32be',
): void {
  if (byteOrder === 'u32le') target.writeUInt32LE(length, offset);
  else target.writeUInt32BE(length, offset);
}

/** The 4-byte length prefix for a payload of `length` bytes. */
export function encodeFrameHeader(length: number, options: FrameEncoderOptions = {}): Buffer {
  checkFrameLength(length, options.maxFrame);
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeFrameHeader(header, 0, length, options.byteOrder);
  return header;
}

/**
 * A frame as `[header, payload]`: the payload is not copied, so a large body
 * is written with writev/cork as two buffers.
 */
export function encodeFrame(
  payload: Uint8Array,
  options: FrameEncoderOptions = {},
): [Buffer, Uint8Array] {
  return [encodeFrameHeader(payload.length, options), payload];
}

/** A frame in one contiguous buffer (a copy); convenient for small messages. */
export function frameToBuffer(payload: Uint8Array, options: FrameEncoderOptions = {}): Buffer {
  checkFrameLength(payload.length, options.maxFrame);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(out, 0, payload.length, options.byteOrder);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}
