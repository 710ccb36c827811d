import type { Socket } from 'node:net';

/**
 * A deliberately naive, test-only reader of length-prefixed frames on a raw
 * socket: it concatenates everything it receives and slices frames off the
 * front. It shares no code with src/protocol, so it can check the decoder and
 * writer under test instead of agreeing with them by construction.
 */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private waiter:
    { n: number; resolve: (frames: Buffer[]) => void; reject: (e: Error) => void } | undefined;
  private ended = false;
  /** Resolves when the socket has closed, with every byte that was never part of a whole frame. */
  readonly closed: Promise<Buffer>;

  constructor(
    socket: Socket,
    private readonly byteOrder: 'u32be' | 'u32le' = 'u32be',
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.slice();
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.ended = true;
        const w = this.waiter;
        this.waiter = undefined;
        w?.reject(
          new Error(
            `socket closed with ${this.frames.length} of ${w.n} frames (${this.buffered.length} stray bytes: ${JSON.stringify(this.buffered.subarray(0, 80).toString('latin1'))})`,
          ),
        );
        resolve(this.buffered);
      });
    });
  }

  /** Resolves with the next `n` frames (rejects if the socket closes first). */
  take(n: number): Promise<Buffer[]> {
    if (this.frames.length >= n) return Promise.resolve(this.frames.splice(0, n));
    if (this.ended)
      return Promise.reject(new Error(`socket closed with ${this.frames.length} of ${n} frames`));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  async next(): Promise<Buffer> {
    const [f] = await this.take(1);
    return f!;
  }

  private slice(): void {
    for (;;) {
      if (this.buffered.length < 4) break;
      const length =
        this.byteOrder === 'u32le' ? this.buffered.readUInt32LE(0) : this.buffered.readUInt32BE(0);
      // A text notice ("error …") reads as an absurd length: leave it for `closed`.
      if (length > 1 << 30 || this.buffered.length < 4 + length) break;
      this.frames.push(Buffer.from(this.buffered.subarray(4, 4 + length)));
      this.buffered = this.buffered.subarray(4 + length);
    }
    const w = this.waiter;
    if (w && this.frames.length >= w.n) {
      this.waiter = undefined;
      w.resolve(this.frames.splice(0, w.n));
    }
  }
}

/** Writes `data` one byte per write, waiting for each write to reach the kernel. */
export async function writeByteByByte(socket: Socket, data: Buffer): Promise<void> {
  for (let i = 0; i < data.length; i++) {
    await new Promise<void>((resolve, reject) => {
      socket.write(data.subarray(i, i + 1), (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }
}

/** A reference upper-casing: ASCII a-z only, every other byte unchanged. */
export function upperAscii(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    if (b >= 0x61 && b <= 0x7a) out[i] = b - 0x20;
  }
  return out;
}
