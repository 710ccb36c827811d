/** u32be frames on the load generator's side of a bench: encode one, cut a stream into payloads. */

const HEADER = 4;

/** One u32be frame holding `payload`. */
export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, HEADER);
  return out;
}

/** One u32be frame holding `message` as JSON (a chat envelope header). */
export function envelope(message: object): Buffer {
  return frame(Buffer.from(JSON.stringify(message)));
}

/** Cuts a byte stream into frame payloads (copies only a frame split across reads). */
export class FrameReader {
  private pending: Buffer | undefined;

  constructor(private readonly onFrame: (payload: Buffer) => void) {}

  push(data: Buffer): void {
    let chunk = data;
    if (this.pending) {
      chunk = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    let off = 0;
    while (chunk.length - off >= HEADER) {
      const length = chunk.readUInt32BE(off);
      if (chunk.length - off < HEADER + length) break;
      this.onFrame(chunk.subarray(off + HEADER, off + HEADER + length));
      off += HEADER + length;
    }
    if (off < chunk.length) this.pending = Buffer.from(chunk.subarray(off));
  }
}
