/**
 * WebSocket frames as a server writes them (RFC 6455 §5.2): FIN set, no
 * extension bits, unmasked (only clients mask), one frame per message.
 *
 *   byte 0: 0x81 (FIN + opcode 1, text) or 0x82 (FIN + opcode 2, binary)
 *   byte 1: length 0..125, or 126 + u16be length, or 127 + u64be length
 *   then the payload
 *
 * The chat gateway uses it to frame the events of one broker turn once and
 * hand every member of a room the same bytes in one write, instead of
 * framing each message again for each member (`ws` `send`).
 */

const FIN_TEXT = 0x81;
const FIN_BINARY = 0x82;
const LEN_16 = 126;
const LEN_64 = 127;
const MAX_7BIT = 125;
const MAX_16BIT = 0xffff;

function headerLength(length: number): number {
  if (length <= MAX_7BIT) return 2;
  return length <= MAX_16BIT ? 4 : 10;
}

function writeHeader(out: Buffer, at: number, first: number, length: number): number {
  out[at] = first;
  if (length <= MAX_7BIT) {
    out[at + 1] = length;
    return at + 2;
  }
  if (length <= MAX_16BIT) {
    out[at + 1] = LEN_16;
    out.writeUInt16BE(length, at + 2);
    return at + 4;
  }
  out[at + 1] = LEN_64;
  // Payloads here are bounded far below 2^53 (maxPayload): the top 16 bits are 0.
  out.writeUInt16BE(0, at + 2);
  out.writeUIntBE(length, at + 4, 6);
  return at + 10;
}

/** The messages `payloads` as consecutive unmasked frames in one buffer (text, or binary). */
export function encodeServerFrames(payloads: readonly Uint8Array[], binary = false): Buffer {
  let total = 0;
  for (const p of payloads) total += headerLength(p.length) + p.length;
  const out = Buffer.allocUnsafe(total);
  const first = binary ? FIN_BINARY : FIN_TEXT;
  let at = 0;
  for (const p of payloads) {
    at = writeHeader(out, at, first, p.length);
    out.set(p, at);
    at += p.length;
  }
  return out;
}
