/**
 * The two frame length encodings of SPEC §1.1. `u32be` is network order, what
 * Python's `struct.pack("!I", n)` writes; `u32le` is what `struct.pack("i", n)`
 * writes on x86. Little-endian is only ever chosen explicitly.
 */
export type ByteOrder = 'u32be' | 'u32le';

/** Bytes in a frame's length prefix. */
export const FRAME_HEADER_BYTES = 4;
